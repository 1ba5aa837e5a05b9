//! karajan's binary: parse the command line, start logging, run the verb, exit with
//! its code. Everything else lives in the library so tests can drive it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = karajan::cli::Cli::parse();
    karajan::cli::telemetry::init(cli.log_format, cli.log.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(karajan::cli::run(cli));
    ExitCode::from(code as u8)
}
