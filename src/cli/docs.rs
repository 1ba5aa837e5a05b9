//! `karajan completions SHELL` and `karajan man [--dir DIR]`: shell completion scripts
//! (clap_complete) and manual pages (clap_mangen), both generated from the command
//! line's own definition, so they can never list a verb or flag that does not exist.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::{Cli, Exit};

/// Print the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Exit {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "karajan", &mut out);
    emit(&out)
}

/// Print karajan(1) on stdout, or with `dir` write one page per verb there
/// (`karajan.1`, `karajan-run.1`, …).
pub fn man(dir: Option<&Path>) -> Exit {
    let cmd = Cli::command();
    match dir {
        Some(dir) => {
            match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)) {
                Ok(()) => {
                    println!("wrote the manual pages to {}", dir.display());
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!(
                        "karajan: cannot write the manual pages to {}: {e}",
                        dir.display()
                    );
                    Exit::Failure
                }
            }
        }
        None => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut out) {
                Ok(()) => emit(&out),
                Err(e) => {
                    eprintln!("karajan: cannot render the manual page: {e}");
                    Exit::Failure
                }
            }
        }
    }
}

fn emit(bytes: &[u8]) -> Exit {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("karajan: cannot write to stdout: {e}");
            Exit::Failure
        }
    }
}
