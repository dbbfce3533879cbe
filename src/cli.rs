//! Command-line flags, parsed as HAProxy parses them (`-f` repeatable, `-sf`/`-st` taking a
//! list of pids, `-cc EXPR`, `--` followed by configuration files), plus rproxy's own
//! `--upgrade`.

use std::path::PathBuf;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cli {
    pub files: Vec<PathBuf>,
    pub check: bool,
    pub check_cond: Option<String>,
    pub version: u8,
    pub upgrade: bool,
    pub help: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub debug: bool,
    pub foreground: bool,
    pub daemon: bool,
    pub master_worker: bool,
    pub master_worker_systemd: bool,
    pub pidfile: Option<PathBuf>,
    pub chdir: Option<PathBuf>,
    pub soft_stop_pids: Vec<u32>,
    pub terminate_pids: Vec<u32>,
    pub master_cli: Vec<String>,
    pub maxconn: Option<u32>,
    pub proxy_maxconn: Option<u32>,
    pub mem_limit_mb: Option<u32>,
    pub local_peer: Option<String>,
    pub sockets_from: Option<PathBuf>,
    /// `-dW`: fail on any warning (HAProxy's zero-warning mode).
    pub zero_warning: bool,
    /// `-dr`: ignore server address resolution failures.
    pub ignore_resolve_failures: bool,
    /// Other `-dX` debug switches, kept to tell the user they have no effect yet.
    pub debug_flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub const USAGE: &str = "\
Usage : rproxy [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v displays version ; -vv shows known build options.
        -d enters debug mode ; -db only disables background mode.
        -V enters verbose mode (disables quiet mode)
        -D goes daemon ; -C changes to <dir> before loading files.
        -W master-worker mode.
        -Ws master-worker mode with systemd notify support.
        -q quiet mode : don't display messages
        -c check mode : only check config files and exit
        -cc check condition : evaluate a condition and exit (0 true, 1 false, 2 error)
        -n sets the maximum total # of connections
        -m limits the usable amount of memory (in MB)
        -N sets the default, per-proxy maximum # of connections
        -L set local peer name (default to hostname)
        -p writes pids of all children to this file
        -dr ignores server address resolution failures
        -dW fails if any warning is emitted
        -sf/-st [pid ]* finishes/terminates old pids.
        -x <unix_socket> get listening sockets from a unix socket
        -S <bind>[,<bind options>...] new master CLI
        --upgrade prints the configuration (-f) rewritten in HAProxy 2.6 syntax
";

fn value<'a>(args: &'a [String], i: &mut usize, flag: &str) -> Result<&'a str, CliError> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| CliError(format!("option '{flag}' requires an argument")))
}

fn number(args: &[String], i: &mut usize, flag: &str) -> Result<u32, CliError> {
    let v = value(args, i, flag)?;
    v.parse()
        .map_err(|_| CliError(format!("option '{flag}' expects a number, got '{v}'")))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Cli, CliError> {
    let mut c = Cli::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--" => {
                c.files.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            "-f" => c.files.push(PathBuf::from(value(args, &mut i, a)?)),
            "-c" => c.check = true,
            "-cc" => c.check_cond = Some(value(args, &mut i, a)?.to_string()),
            "-v" => c.version = c.version.max(1),
            "-vv" => c.version = 2,
            "--upgrade" => c.upgrade = true,
            "-h" | "--help" => c.help = true,
            "-q" => c.quiet = true,
            "-V" => c.verbose = true,
            "-d" => c.debug = true,
            "-db" => c.foreground = true,
            "-D" => c.daemon = true,
            "-W" => c.master_worker = true,
            "-Ws" => {
                c.master_worker = true;
                c.master_worker_systemd = true;
            }
            "-p" => c.pidfile = Some(PathBuf::from(value(args, &mut i, a)?)),
            "-C" => c.chdir = Some(PathBuf::from(value(args, &mut i, a)?)),
            "-S" => c.master_cli.push(value(args, &mut i, a)?.to_string()),
            "-n" => c.maxconn = Some(number(args, &mut i, a)?),
            "-N" => c.proxy_maxconn = Some(number(args, &mut i, a)?),
            "-m" => c.mem_limit_mb = Some(number(args, &mut i, a)?),
            "-L" => c.local_peer = Some(value(args, &mut i, a)?.to_string()),
            "-x" => c.sockets_from = Some(PathBuf::from(value(args, &mut i, a)?)),
            "-sf" | "-st" => {
                // A list of pids up to the next flag, as HAProxy reads it.
                let mut pids = Vec::new();
                while let Some(p) = args.get(i + 1).and_then(|s| s.parse::<u32>().ok()) {
                    pids.push(p);
                    i += 1;
                }
                if a == "-sf" {
                    c.soft_stop_pids.extend(pids);
                } else {
                    c.terminate_pids.extend(pids);
                }
            }
            "-dW" => c.zero_warning = true,
            "-dr" => c.ignore_resolve_failures = true,
            _ if a.starts_with("-d") && a.len() > 2 => c.debug_flags.push(a.to_string()),
            _ => return Err(CliError(format!("unknown option '{a}'"))),
        }
        i += 1;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Cli, CliError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn haproxy_flags() {
        let c = p("-c -f a.cfg -f dir -q -V -db -W -p /run/x.pid -sf 12 13 -st 14 -C /etc -N 10 -- b.cfg c.cfg").expect("parses");
        assert!(c.check && c.quiet && c.verbose && c.foreground && c.master_worker);
        assert_eq!(
            c.files,
            vec![
                PathBuf::from("a.cfg"),
                "dir".into(),
                "b.cfg".into(),
                "c.cfg".into()
            ]
        );
        assert_eq!(c.soft_stop_pids, vec![12, 13]);
        assert_eq!(c.terminate_pids, vec![14]);
        assert_eq!(c.proxy_maxconn, Some(10));
        assert_eq!(p("-vv").map(|c| c.version), Ok(2));
        assert_eq!(p("-cc 1").map(|c| c.check_cond), Ok(Some("1".into())));
        assert!(p("-sf -c").is_ok_and(|c| c.check && c.soft_stop_pids.is_empty()));
    }

    #[test]
    fn errors() {
        assert!(p("-f").is_err());
        assert!(p("--bogus").is_err());
        assert!(p("-n abc").is_err());
        assert!(p("-z").is_err());
    }
}
