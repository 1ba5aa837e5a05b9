//! Logging: `tracing` to stderr, as text or JSON lines.
//!
//! What is logged: `--log`/`KARAJAN_LOG` (an `EnvFilter`) when given, else the level
//! `-q` (errors only) or `-v`/`-vv` (debug, trace) choose, else `info`. A filter that
//! does not parse is refused by the command line itself ([`parse_filter`]): silently
//! logging at `info` instead hides the very output the user asked for.
//!
//! Colour: `--color always|never` decides; `auto` colours only a terminal, and not
//! when `NO_COLOR` is set to anything non-empty (<https://no-color.org>).

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// When log lines are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How loud the logs are, from `-q`, `-v` and `--log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verbosity {
    pub filter: Option<String>,
    pub quiet: bool,
    pub verbose: u8,
}

impl Verbosity {
    /// The `EnvFilter` directives in effect.
    pub fn directives(&self) -> String {
        if let Some(f) = &self.filter {
            return f.clone();
        }
        match (self.quiet, self.verbose) {
            (true, _) => "error".into(),
            (false, 0) => "info".into(),
            (false, 1) => "debug".into(),
            (false, _) => "trace".into(),
        }
    }
}

/// clap's value parser for `--log`: the filter must parse.
pub fn parse_filter(text: &str) -> Result<String, String> {
    EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("not a log filter (e.g. `info`, `karajan=debug`): {e}"))
}

/// Whether to colour, given the choice, `NO_COLOR`'s value and whether stderr is a
/// terminal.
pub fn use_color(choice: ColorChoice, no_color: Option<&std::ffi::OsStr>, tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && no_color.is_none_or(|v| v.is_empty()),
    }
}

pub fn init(format: LogFormat, verbosity: &Verbosity, color: ColorChoice) {
    // Parsed once already by the command line; `info` only for a caller that skipped it.
    let filter = EnvFilter::try_new(verbosity.directives()).unwrap_or_else(|_| "info".into());
    let ansi = use_color(
        color,
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn a_bad_filter_is_refused_with_the_reason() {
        assert_eq!(parse_filter("karajan=debug").unwrap(), "karajan=debug");
        let err = parse_filter("karajan=loud").unwrap_err();
        assert!(err.contains("not a log filter"), "{err}");
    }

    #[test]
    fn no_color_and_the_flag() {
        assert!(use_color(ColorChoice::Auto, None, true));
        assert!(!use_color(ColorChoice::Auto, None, false));
        assert!(!use_color(ColorChoice::Auto, Some(OsStr::new("1")), true));
        assert!(use_color(ColorChoice::Auto, Some(OsStr::new("")), true));
        assert!(use_color(ColorChoice::Always, Some(OsStr::new("1")), false));
        assert!(!use_color(ColorChoice::Never, None, true));
    }

    #[test]
    fn quiet_and_verbose_pick_the_level_unless_a_filter_is_given() {
        let v = |filter: Option<&str>, quiet, verbose| Verbosity {
            filter: filter.map(str::to_string),
            quiet,
            verbose,
        };
        assert_eq!(v(None, false, 0).directives(), "info");
        assert_eq!(v(None, true, 0).directives(), "error");
        assert_eq!(v(None, false, 1).directives(), "debug");
        assert_eq!(v(None, false, 3).directives(), "trace");
        assert_eq!(v(Some("warn"), false, 2).directives(), "warn");
    }
}
