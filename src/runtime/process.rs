//! Process basics: HAProxy-style start-up messages, daemon mode, pidfile, chroot, dropping
//! privileges, and the stop signals.

use std::path::Path;

use nix::unistd::{Gid, Uid};

fn say(level: &str, msg: &str) {
    // Like HAProxy 2.6, the first warning or alert is preceded by the version and the
    // executable's path, so that a log shows which binary spoke.
    if level != "NOTICE" {
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

fn intro_lines() {
    line(
        "NOTICE",
        &format!(
            "haproxy version is {}-rproxy-{}",
            crate::config::cond::EMULATED_HAPROXY_VERSION,
            env!("CARGO_PKG_VERSION")
        ),
    );
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "rproxy".into());
    line("NOTICE", &format!("path to executable is {exe}"));
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
    let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
    ) else {
        alert("cannot install signal handlers");
        return StopKind::Hard;
    };
    tokio::select! {
        _ = term.recv() => StopKind::Hard,
        _ = int.recv() => StopKind::Hard,
        _ = usr1.recv() => StopKind::Soft,
    }
}

/// Detaches from the terminal (`daemon`, `-D`). Must run before any thread is started.
pub fn daemonize() -> Result<(), String> {
    nix::unistd::daemon(true, false).map_err(|e| format!("cannot fork into the background: {e}"))
}

pub fn write_pidfile(path: &Path) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", std::process::id()))
        .map_err(|e| format!("cannot create pidfile {}: {e}", path.display()))
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
        id.uid = Some(u.uid);
        if id.gid.is_none() && g.group.is_none() {
            id.gid = Some(u.gid);
        }
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
/// next one removes.
pub fn drop_privileges(chroot: Option<&Path>, id: Identity) -> Result<(), String> {
    if let Some(dir) = chroot {
        nix::unistd::chroot(dir).map_err(|e| format!("cannot chroot to {}: {e}", dir.display()))?;
        nix::unistd::chdir("/").map_err(|e| format!("cannot chdir to / after chroot: {e}"))?;
    }
    if let Some(gid) = id.gid {
        if Uid::effective().is_root() {
            nix::unistd::setgroups(&[gid]).map_err(|e| format!("cannot set groups: {e}"))?;
        }
        nix::unistd::setgid(gid).map_err(|e| format!("cannot set gid {gid}: {e}"))?;
    }
    if let Some(uid) = id.uid {
        nix::unistd::setuid(uid).map_err(|e| format!("cannot set uid {uid}: {e}"))?;
    }
    Ok(())
}
