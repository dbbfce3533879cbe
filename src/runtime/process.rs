//! Process basics: HAProxy-style start-up messages, daemon mode, pidfile, chroot, dropping
//! privileges, and the stop signals.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::{Gid, Uid};

/// Set once the proxy serves: HAProxy's start-up phase (MODE_STARTING) is over.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The executable's path, noted before a `chroot` can hide it.
static EXE: OnceLock<String> = OnceLock::new();

/// Ends the start-up phase: later warnings and alerts come without the version notices.
pub fn started() {
    STARTED.store(true, Ordering::Relaxed);
}

/// The program name as invoked, for HAProxy's `[NAME.main()]` alert prefix.
pub fn program_name() -> String {
    std::env::args().next().unwrap_or_else(|| "rproxy".into())
}

fn say(level: &str, msg: &str) {
    // Like HAProxy 2.6, the first warning or alert of the start-up phase is preceded by
    // the version and the executable's path, so that a log shows which binary spoke.
    if level != "NOTICE" && !STARTED.load(Ordering::Relaxed) {
        intro();
    }
    line(level, msg);
}

fn line(level: &str, msg: &str) {
    // HAProxy pads the level so that messages line up: "[ALERT]    (pid) : ...".
    eprintln!(
        "{:<10} ({}) : {msg}",
        format!("[{level}]"),
        std::process::id()
    );
}

/// The two notices HAProxy prints before its first warning (once per process).
pub fn intro() {
    static INTRO: std::sync::Once = std::sync::Once::new();
    INTRO.call_once(intro_lines);
}

/// The executable's path (noted on first use: call it before `chroot`).
pub fn exe_path() -> &'static str {
    EXE.get_or_init(|| {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "rproxy".into())
    })
}

fn intro_lines() {
    line(
        "NOTICE",
        &format!(
            "haproxy version is {}-rproxy-{}",
            crate::config::cond::EMULATED_HAPROXY_VERSION,
            env!("CARGO_PKG_VERSION")
        ),
    );
    line("NOTICE", &format!("path to executable is {}", exe_path()));
}

pub fn alert(msg: &str) {
    say("ALERT", msg);
}
pub fn warning(msg: &str) {
    say("WARNING", msg);
}
pub fn notice(msg: &str) {
    say("NOTICE", msg);
}

/// How the process was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// SIGTERM or SIGINT: stop now.
    Hard,
    /// SIGUSR1: stop accepting, let in-flight requests finish.
    Soft,
}

/// Waits for a stop signal. Must run inside the tokio runtime.
pub async fn wait_stop_signal() -> StopKind {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        alert("cannot install signal handlers");
        return StopKind::Hard;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return StopKind::Hard,
            _ = int.recv() => return StopKind::Hard,
            _ = usr1.recv() => return StopKind::Soft,
            // SIGUSR2 is HAProxy's master-worker reload. Without a master (HAProxy 2.6
            // too ignores it then) it must not kill the proxy, as its default action would.
            _ = usr2.recv() => warning(
                "SIGUSR2 (reload) ignored: this version has no master-worker mode; reload by \
                 starting a new process with '-sf <pid>' (it takes over the listening ports)",
            ),
        }
    }
}

/// Detaches from the terminal (`daemon`, `-D`). Must run before any thread is started.
pub fn daemonize() -> Result<(), String> {
    nix::unistd::daemon(true, false).map_err(|e| format!("cannot fork into the background: {e}"))
}

/// Writes this process's pid, replacing the file (HAProxy unlinks it first).
pub fn write_pidfile(path: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|_| {
        format!(
            "[{}.main()] Cannot create pidfile {}",
            program_name(),
            path.display()
        )
    })
}

/// Resolved identity to switch to after binding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity {
    pub uid: Option<Uid>,
    pub gid: Option<Gid>,
}

/// Resolves `user`/`group`/`uid`/`gid` from `global`.
pub fn identity(g: &crate::model::Global) -> Result<Identity, String> {
    let mut id = Identity {
        uid: g.uid.map(Uid::from_raw),
        gid: g.gid.map(Gid::from_raw),
    };
    if let Some(name) = &g.user {
        let u = nix::unistd::User::from_name(name)
            .map_err(|e| format!("cannot look up user '{name}': {e}"))?
            .ok_or_else(|| format!("unknown user '{name}'"))?;
        // Like HAProxy, `user` sets the uid only: the group changes with `group`/`gid`.
        id.uid = Some(u.uid);
    }
    if let Some(name) = &g.group {
        let gr = nix::unistd::Group::from_name(name)
            .map_err(|e| format!("cannot look up group '{name}': {e}"))?
            .ok_or_else(|| format!("unknown group '{name}'"))?;
        id.gid = Some(gr.gid);
    }
    Ok(id)
}

/// `chroot`, then the group, then the user: in this order, as each step needs the rights the
/// next one removes. As HAProxy 2.6 does, setting a group first drops the supplementary
/// groups, and the errors are its alerts (`[NAME.main()] Cannot set uid N.`).
pub fn drop_privileges(chroot: Option<&Path>, id: Identity) -> Result<(), String> {
    let prog = program_name();
    if let Some(dir) = chroot {
        nix::unistd::chroot(dir)
            .and_then(|()| nix::unistd::chdir("/"))
            .map_err(|_| format!("[{prog}.main()] Cannot chroot({}).", dir.display()))?;
    }
    if let Some(gid) = id.gid.filter(|g| g.as_raw() != 0) {
        if nix::unistd::getgroups().is_ok_and(|g| !g.is_empty())
            && nix::unistd::setgroups(&[]).is_err()
        {
            warning(&format!(
                "[{prog}.main()] Failed to drop supplementary groups. Using 'gid'/'group' \
                 without 'uid'/'user' is generally useless."
            ));
        }
        nix::unistd::setgid(gid).map_err(|_| format!("[{prog}.main()] Cannot set gid {gid}."))?;
    }
    if let Some(uid) = id.uid.filter(|u| u.as_raw() != 0) {
        nix::unistd::setuid(uid).map_err(|_| format!("[{prog}.main()] Cannot set uid {uid}."))?;
    }
    Ok(())
}
