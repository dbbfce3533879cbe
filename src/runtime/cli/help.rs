//! `help` and the answers to unknown commands: the commands this version serves, in
//! HAProxy's layout (syntax padded to 40 columns, then `: ` and a description), with
//! HAProxy's headers. The syntax column is HAProxy's; descriptions are this project's.

/// (syntax, description), in HAProxy's order; `help`, `prompt`, `quit` come last there.
const COMMANDS: &[(&str, &str)] = &[
    (
        "add ssl crt-list <list> <cert> [opts]*",
        "add a line to a crt-list (or a payload line)",
    ),
    ("abort ssl ca-file <cafile>", "drop the CA file transaction"),
    (
        "abort ssl cert <certfile>",
        "drop the certificate transaction",
    ),
    (
        "abort ssl crl-file <crlfile>",
        "drop the CRL file transaction",
    ),
    (
        "clear counters [all]",
        "reset the maxima (or every counter) of the statistics",
    ),
    (
        "commit ssl ca-file <cafile>",
        "verify client certificates with the transaction's CAs",
    ),
    (
        "commit ssl cert <certfile>",
        "serve the certificate of the transaction",
    ),
    (
        "commit ssl crl-file <crlfile>",
        "check client certificates against the transaction's CRLs",
    ),
    ("del ssl ca-file <cafile>", "delete a CA file nothing uses"),
    (
        "del ssl cert <certfile>",
        "delete a certificate file no bind uses",
    ),
    (
        "del ssl crl-file <crlfile>",
        "delete a CRL file nothing uses",
    ),
    (
        "del ssl crt-list <list> <cert[:line]>",
        "delete a line from a crt-list",
    ),
    (
        "disable frontend <frontend>",
        "stop a frontend's listening sockets for a while",
    ),
    ("disable health", "stop running a server's health checks"),
    (
        "disable server (DEPRECATED)",
        "put a server in maintenance (use 'set server' instead)",
    ),
    (
        "enable frontend <frontend>",
        "listen again on a disabled frontend's sockets",
    ),
    ("enable health", "run a server's health checks again"),
    (
        "enable server  (DEPRECATED)",
        "take a server out of maintenance (use 'set server' instead)",
    ),
    (
        "get weight <bk>/<srv>",
        "print a server's weight now and as configured",
    ),
    ("new ssl ca-file <cafile>", "make an empty CA file"),
    ("new ssl cert <certfile>", "make an empty certificate file"),
    ("new ssl crlfile <crlfile>", "make an empty CRL file"),
    ("operator", "lower this session's level to operator"),
    (
        "set maxconn frontend <frontend> <value>",
        "change a frontend's maxconn",
    ),
    ("set maxconn global <value>", "change the process's maxconn"),
    ("set maxconn server <bk>/<srv>", "change a server's maxconn"),
    (
        "set rate-limit <setting> <value>",
        "change a global accept rate limit",
    ),
    (
        "set server <bk>/<srv> [opts]",
        "change a server's state or weight",
    ),
    (
        "set severity-output [none|number|string]",
        "prefix messages with their severity",
    ),
    (
        "set ssl ca-file <cafile> <payload>",
        "prepare new CA certificates for a file",
    ),
    (
        "set ssl cert <certfile> <payload>",
        "prepare a new certificate for a file",
    ),
    (
        "set ssl crl-file <crlfile> <payload>",
        "prepare new CRLs for a file",
    ),
    (
        "set ssl ocsp-response <resp|payload>",
        "replace a certificate's OCSP response (base64 DER)",
    ),
    (
        "set timeout [cli] <delay>",
        "change this session's idle timeout",
    ),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
    ),
    (
        "show activity",
        "per-thread activity counters (mostly placeholders)",
    ),
    ("show backend", "list the backends"),
    ("show env [var]", "the process's environment variables"),
    (
        "show errors [<px>] [request|response]",
        "captured protocol errors (none are captured)",
    ),
    (
        "show info [desc|json|typed|float]*",
        "process information and counters",
    ),
    (
        "show servers state [<backend>]",
        "servers' state, weights and checks (all or one backend)",
    ),
    ("show sess [id]", "list the sessions being served"),
    (
        "show ssl ca-file [<cafile>[:<index>]]",
        "list the CA files, or describe one's certificates",
    ),
    (
        "show ssl cert [<certfile>]",
        "list the certificate files, or describe one",
    ),
    (
        "show ssl crl-file [<crlfile[:<index>>]]",
        "list the CRL files, or describe one's lists",
    ),
    (
        "show ssl crt-list [-n] [<list>]",
        "list the crt-lists, or the lines of one",
    ),
    (
        "show ssl ocsp-response [id]",
        "list the OCSP responses stapled, or print one",
    ),
    (
        "show stat [desc|json|no-maint|typed|up]*",
        "counters of each proxy and server",
    ),
    ("show tasks", "the sessions alive now, by kind"),
    (
        "shutdown frontend <frontend>",
        "close a frontend's sockets for good",
    ),
    ("shutdown session [id]", "end one session"),
    (
        "shutdown sessions server <bk>/<srv>",
        "end every session using a server",
    ),
    ("user", "lower this session's level to user"),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

pub const HEADER: &str = "The following commands are valid at this level:\n";

fn line(out: &mut String, (syntax, desc): (&str, &str)) {
    out.push_str(&format!("  {syntax:<40}: {desc}\n"));
}

/// `help [words]`: every command, or those starting with the given words (else the
/// closest ones, as HAProxy does).
pub fn help(args: &[&str], out: &mut String) {
    out.push_str(HEADER);
    if args.is_empty() {
        for c in COMMANDS {
            line(out, *c);
        }
    } else {
        let prefix = args.join(" ");
        let hits: Vec<_> = COMMANDS
            .iter()
            .filter(|(s, _)| s.starts_with(&prefix))
            .collect();
        if hits.is_empty() {
            suggestions(args, out);
        } else {
            for c in hits {
                line(out, *c);
            }
        }
    }
    out.push('\n');
}

/// An empty command.
/// How HAProxy's answers to unknown commands begin.
pub const UNKNOWN: &str = "Unknown command";

pub fn unknown_empty(out: &mut String) {
    out.push_str("Unknown command. Please enter one of the following commands only:\n");
    for c in COMMANDS {
        line(out, *c);
    }
    out.push('\n');
}

/// A command no entry matches: the closest ones, then `help`, `prompt` and `quit`.
pub fn unknown(args: &[&str], out: &mut String) {
    out.push_str("Unknown command, but maybe one of the following ones is a better match:\n");
    suggestions(args, out);
    out.push('\n');
}

fn suggestions(args: &[&str], out: &mut String) {
    let typed = args.join(" ");
    let n = COMMANDS.len() - 3;
    let mut scored: Vec<(usize, usize)> = COMMANDS[..n]
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (similarity(&typed, s), i))
        .filter(|(sc, _)| *sc > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut best: Vec<usize> = scored.iter().take(5).map(|(_, i)| *i).collect();
    best.sort_unstable();
    for i in best {
        line(out, COMMANDS[i]);
    }
    for c in &COMMANDS[n..] {
        line(out, *c);
    }
}

/// Shared character pairs between what was typed and a command's first words.
fn similarity(typed: &str, syntax: &str) -> usize {
    let pairs = |s: &str| -> Vec<(char, char)> {
        let c: Vec<char> = s.chars().collect();
        c.windows(2).map(|w| (w[0], w[1])).collect()
    };
    let head: String = syntax
        .split(' ')
        .take_while(|w| !w.starts_with(['<', '[', '(']))
        .collect::<Vec<_>>()
        .join(" ");
    let a = pairs(typed);
    let b = pairs(&head);
    a.iter().filter(|p| b.contains(p)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lines_are_padded_like_haproxy() {
        let mut o = String::new();
        help(&["get"], &mut o);
        assert_eq!(
            o,
            "The following commands are valid at this level:\n  get weight <bk>/<srv>                   : print a server's weight now and as configured\n\n"
        );
    }

    #[test]
    fn unknown_ends_with_help_prompt_quit() {
        let mut o = String::new();
        unknown(&["shwo", "stat"], &mut o);
        assert!(o.contains("show stat"), "{o}");
        assert!(o.ends_with("  quit                                    : disconnect\n\n"));
    }
}
