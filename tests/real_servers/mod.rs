//! Real server programs the tests start and drive: Debian's aiosmtpd and throwaway
//! MariaDB servers (data directory on tmpfs), each killed and removed on drop.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server process, killed and reaped on drop (its tempdir removed after).
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    pub fn addr(&self) -> SocketAddr {
        crate::common::local(self.port)
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const PY: &str = "/usr/bin/python3";

pub fn have_aiosmtpd() -> bool {
    Path::new(PY).exists()
        && Command::new(PY)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// aiosmtpd on a free port (Debian's python3; pyenv's first `python3` lacks it).
pub fn start_smtpd() -> Option<Daemon> {
    if !crate::common::require(
        have_aiosmtpd(),
        "python3-aiosmtpd (/usr/bin/python3) not installed",
    ) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::common::free_port();
    let child = Command::new(PY)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn aiosmtpd");
    let d = Daemon { child, port, dir };
    assert!(
        crate::common::eventually(Duration::from_secs(10), || crate::common::accepts(d.addr())),
        "aiosmtpd did not listen on {}",
        d.addr()
    );
    Some(d)
}

/// A scratch directory on tmpfs when there is one: MariaDB's bootstrap is mostly fsyncs.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("rproxy-mariadb")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}

pub fn mariadb_client(dir: &Path, sql: &str) -> bool {
    Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", dir.join("s").display()))
        .args(["-uroot", "-e", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A fresh MariaDB listening on 127.0.0.1 with the user `haproxy_check`@`127.0.0.1`
/// (no password).
pub fn start_mariadb() -> Option<Daemon> {
    start_mariadb_with(&[])
}

/// [`start_mariadb`] with more `mariadbd` options (e.g. `--proxy-protocol-networks=...`).
pub fn start_mariadb_with(extra: &[&str]) -> Option<Daemon> {
    let have = ["mariadbd", "mariadb-install-db", "mariadb"]
        .iter()
        .all(|p| crate::common::have_program(p) || Path::new("/usr/sbin").join(p).exists());
    if !crate::common::require(have, "mariadb-server not installed") {
        return None;
    }
    let dir = scratch();
    let data: PathBuf = dir.path().join("data");
    let root = nix::unistd::geteuid().is_root();
    let mut install = Command::new("mariadb-install-db");
    install
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        // Its own temporary directory: parallel bootstraps sharing /tmp have been seen
        // to trip over each other's temporary tables.
        .env("TMPDIR", dir.path());
    if root {
        install.arg("--user=root");
    }
    let out = install.output().expect("run mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = crate::common::free_port();
    let mariadbd = if crate::common::have_program("mariadbd") {
        PathBuf::from("mariadbd")
    } else {
        PathBuf::from("/usr/sbin/mariadbd")
    };
    let mut cmd = Command::new(mariadbd);
    cmd.env("TMPDIR", dir.path())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.path().join("s").display()))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()))
        .arg(format!(
            "--log-error={}",
            dir.path().join("err.log").display()
        ))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=16M",
            // Checks without a login count as connection errors; never block the host.
            "--max-connect-errors=1000000",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if root {
        cmd.arg("--user=root");
    }
    let child = cmd.spawn().expect("spawn mariadbd");
    let mut d = Daemon { child, port, dir };
    let up = crate::common::eventually(Duration::from_secs(20), || {
        crate::common::accepts(d.addr()) && mariadb_client(d.dir.path(), "SELECT 1")
    });
    if !up {
        let log = std::fs::read_to_string(d.dir.path().join("err.log")).unwrap_or_default();
        d.kill();
        panic!("mariadbd did not come up:\n{log}");
    }
    assert!(
        mariadb_client(
            d.dir.path(),
            "CREATE USER 'haproxy_check'@'127.0.0.1'; FLUSH PRIVILEGES;"
        ),
        "CREATE USER failed"
    );
    Some(d)
}
