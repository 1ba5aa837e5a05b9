//! karajan's binary: parse the command line, start logging, run the verb, exit with
//! its code. Everything else lives in the library so tests can drive it.

use std::process::ExitCode;

use clap::Parser;

/// `karajan history X | head` closes stdout early: exit quietly like a Unix tool killed
/// by SIGPIPE (141) instead of printing a panic. Resetting SIGPIPE would need `unsafe`.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Blocking-pool threads at most: git clones and agent log writes (`tokio::fs`) run
/// there, so it bounds how many clones proceed at once, not how many agents run. Each
/// thread costs a stack and a malloc arena: four instead of eight took the drain
/// bench's daemon from 15 threads to 11 and its peak RSS at 500 tickets from 27 to
/// 25–26 MB, with the same wall time (issue 11).
const BLOCKING_THREADS: usize = 4;

/// One thread runs every task: the daemon's own CPU is small, and a single thread has
/// no cross-thread wakeups (futex time) and one malloc arena instead of one per
/// worker; blocking work (clones, file writes, DNS) goes to a bounded pool whose
/// threads exit when idle. Nothing in the daemon needs a second worker (no
/// `block_in_place`); the e2e tests drive this binary.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

/// One malloc arena for the whole process. glibc gives each thread that allocates an
/// arena of its own (up to eight per core), and each keeps its freed pages: at the peak
/// of the drain bench's daemon (11 threads: the runtime, the blocking pool, SQLite's
/// workers) the arenas and stacks held 3.2 MB and the heap 2.8 MB; with one arena,
/// 0.5 and 4.7–4.9 MB (issue 11). Threads still allocate small sizes without the
/// arena's lock (glibc's per-thread cache), and the daemon's threads mostly take turns
/// (a request to SQLite's worker, its answer). `MALLOC_ARENA_MAX` in the environment
/// wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: `mallopt` changes allocator settings and is not synchronized with other
    // threads' allocations; it runs first thing in `main`, before any thread exists.
    // A refusal (returns 0) leaves glibc's default, which is only more memory.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

fn main() -> ExitCode {
    one_malloc_arena();
    // An agent's guard in a cluster node (see `agent::guard`): nothing else to start.
    karajan::agent::guard::guard_main(&std::env::args().collect::<Vec<_>>());
    quiet_on_broken_pipe();
    let cli = karajan::cli::Cli::parse();
    karajan::cli::telemetry::init(cli.log_format, &cli.verbosity(), cli.color);
    // Before any thread does git work (see `forge::http`'s registration).
    karajan::forge::http::register();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(karajan::cli::run(cli));
    ExitCode::from(code as u8)
}
