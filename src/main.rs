//! The `rproxy` binary: HAProxy's command line over the rproxy library.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use rproxy::cli::{self, Cli};
use rproxy::config::{self, cond, diag, lexer::ProcessEnv};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprint!("{}", version_text(false));
        eprint!("{}", cli::USAGE);
        return ExitCode::from(1);
    }
    let cli = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rproxy: {e}");
            eprint!("{}", cli::USAGE);
            return ExitCode::from(1);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rproxy: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn version_text(build: bool) -> String {
    let mut s = format!(
        "HAProxy version {hap}-rproxy-{own} - rproxy {own}, a HAProxy-compatible proxy in Rust\n\
         Status: rproxy {own} emulates HAProxy {hap} (configuration language, flags, outputs).\n",
        hap = cond::EMULATED_HAPROXY_VERSION,
        own = env!("CARGO_PKG_VERSION"),
    );
    if build {
        s.push_str(&format!(
            "\nBuild options :\n  rproxy {} built with rustc for {}-{}\n\nFeature list : {}\n\n\
             Available polling systems :\n      epoll : pref=300,  test result OK\n\n\
             Available multiplexer protocols :\n  h2 : mode=HTTP side=FE\n  h1 : mode=HTTP side=FE|BE\n\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
            cond::FEATURES,
        ));
    }
    s
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.help {
        print!("{}", cli::USAGE);
        return Ok(ExitCode::SUCCESS);
    }
    if cli.version > 0 {
        print!("{}", version_text(cli.version > 1));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(expr) = &cli.check_cond {
        return Ok(match cond::eval(expr, &ProcessEnv) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!(
                    "rproxy: failed to evaluate condition: {} (at position {})",
                    e.message,
                    e.at + 1
                );
                ExitCode::from(2)
            }
        });
    }
    if let Some(dir) = &cli.chdir {
        std::env::set_current_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot change to directory '{}': {e}", dir.display()))?;
    }
    if cli.files.is_empty() {
        eprintln!("rproxy: no configuration file specified (use -f FILE)");
        eprint!("{}", cli::USAGE);
        return Ok(ExitCode::from(1));
    }
    let color = std::io::stderr().is_terminal();
    let paths = match config::expand_paths(&cli.files) {
        Ok(p) => p,
        Err(d) => {
            eprint!("{}", diag::render(&Default::default(), &d, color));
            return Ok(ExitCode::from(1));
        }
    };
    if cli.upgrade {
        return upgrade(&paths, color);
    }
    let opts = config::build::BuildOptions {
        ignore_resolve_failures: cli.ignore_resolve_failures,
        ..Default::default()
    };
    let mut loaded = config::load_files(&paths, &ProcessEnv, &opts);
    if cli.check && !loaded.diags.has_errors() {
        // As `haproxy -c`: certificates, keys and CA files are loaded and checked too.
        rproxy::runtime::tls_bind::check(&loaded.model, &mut loaded.diags);
    }
    let errors = loaded.diags.count(diag::Severity::Error);
    let warnings = loaded.diags.count(diag::Severity::Warning);
    let mut err = std::io::stderr().lock();
    if !cli.check && (errors > 0 || (!cli.quiet && !loaded.diags.sorted().is_empty())) {
        rproxy::runtime::process::intro();
    }
    if !cli.quiet || errors > 0 {
        for d in loaded.diags.sorted() {
            if cli.quiet && !d.is_error() {
                continue;
            }
            let _ = writeln!(err, "{}", diag::render(&loaded.sources, d, color));
        }
    }
    if errors > 0 {
        let _ = writeln!(
            err,
            "rproxy: {errors} error(s), {warnings} warning(s): fatal errors found in configuration."
        );
        return Ok(ExitCode::from(1));
    }
    if cli.zero_warning && warnings > 0 {
        let _ = writeln!(
            err,
            "rproxy: {warnings} warning(s) and zero-warning mode (-dW) is set."
        );
        return Ok(ExitCode::from(1));
    }
    if cli.check {
        if !cli.quiet {
            if warnings > 0 {
                println!("Warnings were found.");
            }
            println!("Configuration file is valid");
        }
        return Ok(ExitCode::SUCCESS);
    }
    drop(err);
    run_proxy(&cli, loaded, color)
}

/// Builds the runtime from the model, binds, detaches/drops privileges as configured, and
/// serves until a stop signal.
fn run_proxy(cli: &Cli, loaded: config::Loaded, color: bool) -> anyhow::Result<ExitCode> {
    use rproxy::runtime::{self, process};
    // The proxy's own diagnostics on standard error: warnings always; with `-d` (HAProxy's
    // debug mode) also what the runtime notes of each refused request, failed connection
    // or server error. Traffic logs in HAProxy's formats are a separate channel.
    let level = if cli.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    // Noted now: a later chroot hides it from the start-up notices.
    process::exe_path();
    let prog = process::program_name();
    let mut model = loaded.model;
    if let Some(n) = cli.maxconn {
        model.global.maxconn = Some(n);
    }
    if let Some(n) = cli.proxy_maxconn {
        for p in model.proxies.iter_mut().filter(|p| p.caps.frontend) {
            p.maxconn.get_or_insert(n);
        }
    }
    runtime::tls_bind::set_source_names(
        loaded
            .sources
            .files
            .iter()
            .map(|f| f.name.clone())
            .collect(),
    );
    let (rt, diags) = runtime::Runtime::build(&model);
    if diags.has_errors() || (!cli.quiet && !diags.sorted().is_empty()) {
        process::intro();
    }
    {
        let mut err = std::io::stderr().lock();
        for d in diags.sorted() {
            if cli.quiet && !d.is_error() {
                continue;
            }
            let _ = writeln!(err, "{}", diag::render(&loaded.sources, d, color));
        }
    }
    if diags.has_errors() {
        process::alert("fatal errors found in configuration.");
        return Ok(ExitCode::from(1));
    }
    if cli.zero_warning && diags.count(diag::Severity::Warning) > 0 {
        process::alert("warnings were found and zero-warning mode (-dW) is set.");
        return Ok(ExitCode::from(1));
    }
    if cli.master_worker || cli.master_worker_systemd || model.global.master_worker {
        process::warning(
            "master-worker mode (-W/-Ws) is not available in this version: running as a single process.",
        );
    }
    if let Some(x) = &cli.sockets_from {
        // HAProxy's seamless reload takes the old process's sockets over its stats
        // socket; here the new process binds beside the old one (SO_REUSEPORT) instead.
        process::warning(&format!(
            "-x {}: taking the listening sockets from the old process is not available in \
             this version: binding beside it instead (SO_REUSEPORT); with -sf the old process \
             serves the connections already queued on its sockets before closing them",
            x.display()
        ));
    }
    let bound = match runtime::listeners::bind_all(&model, rt.maxconn) {
        Ok(b) => b,
        Err(e) => {
            // HAProxy's words: "Binding [FILE:LINE] for frontend NAME: cannot bind socket
            // (REASON) for [ADDR]".
            let at = loaded
                .sources
                .get(e.span.file)
                .map(|f| format!("[{}:{}] ", f.name, e.span.line))
                .unwrap_or_default();
            process::alert(&format!("Binding {at}for {e}"));
            process::alert(&format!(
                "[{prog}.main()] Some protocols failed to start their listeners! Exiting."
            ));
            return Ok(ExitCode::from(1));
        }
    };
    if let Err(e) = rt.cli.bind() {
        let at = loaded
            .sources
            .get(e.span.file)
            .map(|f| format!("[{}:{}] ", f.name, e.span.line))
            .unwrap_or_default();
        process::alert(&format!("{at}{e}"));
        return Ok(ExitCode::from(1));
    }
    if bound.is_empty() {
        process::alert(&format!(
            "[{prog}.main()] No enabled listener found (check for 'bind' directives) ! Exiting."
        ));
        return Ok(ExitCode::from(1));
    }
    // Old processes named by -sf finish their work; -st ones stop now (HAProxy's reload).
    for pid in &cli.soft_stop_pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGUSR1,
        );
    }
    for pid in &cli.terminate_pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let identity = process::identity(&model.global).map_err(anyhow::Error::msg)?;
    let daemon = (cli.daemon || model.global.daemon) && !cli.foreground;
    if daemon {
        process::daemonize().map_err(anyhow::Error::msg)?;
    }
    // HAProxy 2.6 writes the pidfile only when it forks (daemon or master-worker mode);
    // in the foreground `-p`/`pidfile` are ignored. rproxy's -W runs as one process, whose
    // pid is then the one to signal.
    let master_worker =
        cli.master_worker || cli.master_worker_systemd || model.global.master_worker;
    if (daemon || master_worker)
        && let Some(p) = cli.pidfile.as_ref().or(model.global.pidfile.as_ref())
        && let Err(e) = process::write_pidfile(p)
    {
        process::alert(&e);
        return Ok(ExitCode::from(1));
    }
    if let Err(e) = process::drop_privileges(model.global.chroot.as_deref(), identity) {
        process::alert(&e);
        return Ok(ExitCode::from(1));
    }
    let threads = model
        .global
        .nbthread
        .map(|n| n as usize)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    // One thread: a current-thread runtime, with no cross-thread wake-ups or work-stealing
    // bookkeeping per task (HAProxy's `nbthread 1` is likewise a single event loop).
    // Before an event loop waits: send the log lines it held, count the loop.
    fn on_park() {
        runtime::log::flush_thread();
        runtime::cli::activity::on_park();
    }
    let tokio_rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(on_park)
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .on_thread_park(on_park)
            .build()?
    };
    let rt = std::sync::Arc::new(rt);
    let code = tokio_rt.block_on(rt.serve(bound));
    // Log messages the loop still held (the last ones of a stop).
    runtime::log::flush_and_stop();
    // Connections still open after a stop are dropped with the runtime.
    tokio_rt.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(ExitCode::from(code as u8))
}

fn upgrade(paths: &[std::path::PathBuf], color: bool) -> anyhow::Result<ExitCode> {
    let mut sources = config::source::SourceMap::default();
    for p in paths {
        let text = std::fs::read(p).map_err(|e| {
            anyhow::anyhow!("could not open configuration file '{}': {e}", p.display())
        })?;
        let text = String::from_utf8_lossy(&text).into_owned();
        sources.add(config::source::SourceFile::new(
            p.display().to_string(),
            p.clone(),
            text,
        ));
    }
    let loaded = config::Loaded {
        sources,
        ..Default::default()
    };
    let mut err = std::io::stderr().lock();
    let mut out = std::io::stdout().lock();
    for id in 0..loaded.sources.files.len() {
        let up = config::upgrade::upgrade(&loaded.sources, id as u32);
        for d in &up.notes {
            let _ = writeln!(err, "{}", diag::render(&loaded.sources, d, color));
        }
        out.write_all(up.text.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
