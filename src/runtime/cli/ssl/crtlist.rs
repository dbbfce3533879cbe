//! The crt-list commands of the runtime API, as HAProxy 2.6 answers them: `show ssl
//! crt-list [-n] [<list>]`, `add ssl crt-list <list> <cert>` (or one crt-list line as
//! payload: `<cert> [settings] [filters]`) and `del ssl crt-list <list> <cert[:line]>`.
//! A crt-list here is a crt-list file or a `crt` directory that binds loaded; the
//! certificate of a line must be known first (loaded by the configuration, or made with
//! `new ssl cert` + `set ssl cert` + `commit ssl cert`). An added line is served at once
//! by every bind using the list (SNI names, filters, settings); a deleted one is not.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::{Ctx, DENIED, Store, files, spare};
use crate::model::CliLevel;
use crate::runtime::tls_bind::{
    self, BindTls, CrtEntry, CrtList, LINE_KEYWORDS, parse_line_settings, split_list_line,
    strip_slashes,
};

/// Every crt-list the binds loaded, by path.
fn lists(ctx: &Ctx) -> BTreeMap<String, Arc<Mutex<CrtList>>> {
    let mut out = BTreeMap::new();
    for b in ctx.rt.bind_tls.values() {
        for l in b.crt_lists() {
            let path = lock(l).path.clone();
            out.entry(path).or_insert_with(|| l.clone());
        }
    }
    out
}

fn lock(l: &Mutex<CrtList>) -> std::sync::MutexGuard<'_, CrtList> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// The binds serving a crt-list, the last configured first (HAProxy's order: the one it
/// names when a line fails).
fn binds_of(ctx: &Ctx, l: &Arc<Mutex<CrtList>>) -> Vec<Arc<BindTls>> {
    let mut keys: Vec<_> = ctx.rt.bind_tls.keys().copied().collect();
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.iter()
        .filter_map(|k| ctx.rt.bind_tls.get(k))
        .filter(|b| b.uses_list(l))
        .cloned()
        .collect()
}

/// `show ssl crt-list [-n] [<list>]` (admin level).
pub fn show(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let (numbered, name) = match args {
        ["-n", rest @ ..] => (true, rest.first().copied()),
        _ => (false, args.first().copied()),
    };
    if numbered && name.is_none() {
        out.push_str("'show ssl crt-list -n' expects a filename or a directory\n\n");
        return;
    }
    let all = lists(ctx);
    let Some(name) = name else {
        for p in all.keys() {
            let _ = writeln!(out, "{p}");
        }
        out.push('\n');
        return;
    };
    let Some(l) = all.get(strip_slashes(name)) else {
        out.push_str("didn't find the specified filename\n\n");
        return;
    };
    let l = lock(l);
    let _ = writeln!(out, "# {}", l.path);
    for e in &l.entries {
        let _ = writeln!(out, "{}", e.dump(numbered));
    }
    out.push('\n');
}

/// The settings of a line given on the CLI, checked with HAProxy's words for what is
/// wrong; then read as the configuration reads them.
fn cli_settings(
    words: &[String],
    base: Option<&std::path::Path>,
    known: &[std::path::PathBuf],
) -> Result<tls_bind::LineSettings, String> {
    let mut i = 0;
    while let Some(kw) = words.get(i) {
        let Some(&(_, nargs)) = LINE_KEYWORDS.iter().find(|(k, _)| k == kw) else {
            return Err(format!("parsing [CLI:1]: unknown ssl keyword {kw}"));
        };
        if nargs == 1 {
            let Some(a) = words.get(i + 1) else {
                return Err(format!("parsing [CLI:1]: ssl args out of '[]' for {kw}"));
            };
            match kw.as_str() {
                "ssl-min-ver" | "ssl-max-ver"
                    if crate::model::proxy::TlsVersion::parse(a).is_none() =>
                {
                    return Err(format!("'{a}' : unknown ssl/tls version"));
                }
                "verify" if !["none", "optional", "required"].contains(&a.as_str()) => {
                    return Err(format!(
                        "'verify' : unknown verify method '{a}', only 'none', 'optional', and \
                         'required' are supported\n"
                    ));
                }
                "ca-file" | "ca-verify-file" | "crl-file" => {
                    // HAProxy 2.6 takes only files it already loaded (no `new ssl
                    // ca-file` here).
                    let p = crate::config::build::based(base, a);
                    if !known.contains(&p) || std::fs::metadata(&p).is_err() {
                        return Err(format!("'{kw}' : unable to load {}", p.display()));
                    }
                }
                _ => {}
            }
        }
        i += 1 + nargs;
    }
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    parse_line_settings(
        &w,
        std::path::Path::new("CLI"),
        1,
        tls_bind::Bases {
            crt: None,
            ca: base,
        },
    )
    .map_err(|(m, _)| m)
}

/// `add ssl crt-list <list> <cert>` or `add ssl crt-list <list> <<` with one line.
pub fn add(ctx: &mut Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let payload = ctx.payload.take();
    let Some(list_name) = args.first() else {
        out.push_str("'add ssl crtlist' expects a filename and a certificate name\n\n");
        return;
    };
    if payload.is_none() && args.get(1).is_none() {
        out.push_str("'add ssl crtlist' expects a filename and a certificate name\n\n");
        return;
    }
    match add_inner(ctx, strip_slashes(list_name), args.get(1).copied(), payload) {
        Ok(s) | Err(s) => out.push_str(&s),
    }
}

fn add_inner(
    ctx: &Ctx,
    list_name: &str,
    arg_cert: Option<&str>,
    payload: Option<String>,
) -> Result<String, String> {
    let fail = |m: String| format!("Can't edit the crt-list: {m}\n\n");
    let all = lists(ctx);
    let Some(list) = all.get(list_name) else {
        return Err(fail(format!("crt-list '{list_name}' does not exist!")));
    };
    let (dir, crt_base) = {
        let l = lock(list);
        (l.dir, l.crt_base.clone())
    };
    let (cert, settings, filters) = match payload {
        Some(p) => {
            let p = p.strip_suffix('\n').unwrap_or(&p);
            if p.is_empty() || p.contains('\n') {
                return Err(fail("only one line of payload is supported!".into()));
            }
            let Some((cert, words, filters)) = split_list_line(p) else {
                return Err(fail(
                    "'add ssl crtlist' should contain the certificate name in the payload".into(),
                ));
            };
            if cert.starts_with('[') {
                return Err(fail("parsing [CLI:1]: file must start with a cert".into()));
            }
            let settings = match words {
                Some(w) => {
                    let known: Vec<_> = ctx
                        .rt
                        .bind_tls
                        .values()
                        .flat_map(|b| b.known_ca_files())
                        .collect();
                    Some(cli_settings(&w, None, &known).map_err(fail)?)
                }
                None => None,
            };
            (cert, settings, filters)
        }
        None => (arg_cert.unwrap_or_default().to_owned(), None, Vec::new()),
    };
    if dir {
        let inside = cert.rsplit_once('/').is_some_and(|(d, _)| d == list_name);
        if !inside {
            return Err(fail(format!(
                "'{list_name}' is a directory, certificate path '{cert}' must contain the \
                 directory path"
            )));
        }
    }
    let cert = match &crt_base {
        Some(b) if !cert.starts_with('/') => b.join(&cert).display().to_string(),
        _ => cert,
    };
    let ckch = match files(ctx).get(&cert) {
        None => return Err(fail(format!("certificate '{cert}' does not exist!"))),
        Some(Store::Spare(None)) => return Err(fail(format!("certificate '{cert}' is empty!"))),
        Some(Store::Used(c)) | Some(Store::Spare(Some(c))) => c.clone(),
    };
    if dir {
        if lock(list).entries.iter().any(|e| e.cert == cert) {
            return Err(fail("file already exists in this directory!".into()));
        }
        if settings.is_some() || !filters.is_empty() {
            return Err(fail(
                "this is a directory, SSL configuration and filters are not allowed".into(),
            ));
        }
    }
    let mut entry = CrtEntry {
        id: tls_bind::next_entry_id(),
        cert: cert.clone(),
        line: 0,
        settings,
        filters,
    };
    let mut msg = format!("Inserting certificate '{cert}' in crt-list '{list_name}'");
    let binds = binds_of(ctx, list);
    for (n, b) in binds.iter().enumerate() {
        msg.push('.');
        if let Err(e) = b.add_entry(&entry, ckch.clone()) {
            // Undo on the binds already served, as HAProxy frees the new instances.
            for done in &binds[..n] {
                done.remove_entry(entry.id);
            }
            let _ = write!(msg, "\n{e}\nFailed!\n\n");
            return Err(msg);
        }
    }
    {
        let mut l = lock(list);
        l.linecount += 1;
        entry.line = l.linecount;
        l.entries.push(entry);
    }
    msg.push_str("\nSuccess!\n\n");
    Ok(msg)
}

/// `del ssl crt-list <list> <cert[:line]>`.
pub fn del(ctx: &Ctx, args: &[&str], out: &mut String) {
    if !ctx.allowed(CliLevel::Admin) {
        out.push_str(DENIED);
        return;
    }
    let (Some(list_name), Some(cert_arg)) = (args.first(), args.get(1)) else {
        out.push_str("'del ssl crtlist' expects a filename and a certificate name\n\n");
        return;
    };
    match del_inner(ctx, list_name, cert_arg) {
        Ok(s) | Err(s) => out.push_str(&s),
    }
}

/// strtol's reading of a line number: optional sign and digits, all of the rest.
fn line_number(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(t.parse::<i64>().unwrap_or(i64::MAX))
}

fn del_inner(ctx: &Ctx, list_name: &str, cert_arg: &str) -> Result<String, String> {
    let fail = |m: String| format!("Can't delete the entry: {m}\n\n");
    let (cert, linenum) = match cert_arg.split_once(':') {
        Some((c, n)) => match line_number(n) {
            Some(n) => (c, n),
            None => {
                return Err(fail(format!(
                    "wrong line number after colons in '{cert_arg}'!"
                )));
            }
        },
        None => (cert_arg, 0),
    };
    let list_name = strip_slashes(list_name);
    let all = lists(ctx);
    let Some(list) = all.get(list_name) else {
        return Err(fail(format!("crt-list '{list_name}' does not exist!")));
    };
    match files(ctx).get(cert) {
        None => return Err(fail(format!("certificate '{cert}' does not exist!"))),
        Some(Store::Spare(None)) => return Err(fail(format!("certificate '{cert}' is empty!"))),
        Some(_) => {}
    }
    let (id, path) = {
        let l = lock(list);
        let same: Vec<&CrtEntry> = l.entries.iter().filter(|e| e.cert == cert).collect();
        if same.is_empty() {
            return Err(fail(format!(
                "certificate '{cert}' can't be found in crt-list '{list_name}'!"
            )));
        }
        let nums = same
            .iter()
            .map(|e| e.line.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let chosen = same
            .iter()
            .find(|e| linenum == 0 || i64::try_from(e.line).is_ok_and(|l| l == linenum));
        let Some(chosen) = chosen else {
            return Err(fail(format!(
                "found a certificate '{cert}' but the line number is incorrect, please specify \
                 a correct line number preceded by colons ({nums})!"
            )));
        };
        if linenum == 0 && same.len() > 1 {
            return Err(fail(format!(
                "found the certificate '{cert}' in several entries, please specify a line \
                 number preceded by colons ({nums})!"
            )));
        }
        (chosen.id, l.path.clone())
    };
    let binds = binds_of(ctx, list);
    // In the order of the configuration (the order HAProxy loaded them in).
    let defaults: Vec<String> = binds
        .iter()
        .rev()
        .filter(|b| b.default_entry() == Some(id))
        .map(|b| format!("\t- {}\n", tls_bind::place(b.span())))
        .collect();
    if !defaults.is_empty() {
        return Err(fail(format!(
            "certificate '{cert}' cannot be deleted, it is used as default certificate by the \
             following frontends:\n{}",
            defaults.concat()
        )));
    }
    let ckch = files(ctx).get(cert).and_then(|s| match s {
        Store::Used(c) => Some(c.clone()),
        _ => None,
    });
    for b in &binds {
        b.remove_entry(id);
    }
    lock(list).entries.retain(|e| e.id != id);
    // The certificate stays known (as HAProxy keeps its store), served or not.
    if let Some(c) = ckch
        && !files(ctx).contains_key(cert)
    {
        spare().insert(cert.to_owned(), Some(c));
    }
    Ok(format!("Entry '{cert}' deleted in crtlist '{path}'!\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_read_as_strtol() {
        assert_eq!(line_number("5"), Some(5));
        assert_eq!(line_number("+5"), Some(5));
        assert_eq!(line_number(""), None);
        assert_eq!(line_number("x"), None);
        assert_eq!(line_number("5x"), None);
    }
}
