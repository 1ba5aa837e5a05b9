//! Each CLI runner through the shared `AgentRunner` conformance suite. The suite's
//! scripts are plain shell, so the runner executes them through `fakes/conform`, which
//! prints a minimal successful stream of the CLI's format and then `exec`s the script
//! (same pid, same signals, same exit code, exactly the runner's environment). The
//! suite's 10 MB case asserts stdout.log byte for byte, which the adapter's extra lines
//! would break; the runners' own 10 MB-line cases (`cases.rs`) cover it instead.

use std::path::Path;
use std::sync::Arc;

use karajan::agent::AgentRunner;
use karajan::config::RunnerKind;

use crate::agent::conformance::conformance_tests;

fn through_adapter(kind: RunnerKind, script: &Path) -> Arc<dyn AgentRunner> {
    let adapter = super::fake(kind).with_file_name("conform");
    let command = vec![
        adapter.display().to_string(),
        kind.as_str().to_string(),
        script.display().to_string(),
    ];
    super::runner(&super::config(kind, command, Default::default()))
}

macro_rules! suite {
    ($name:ident, $kind:expr) => {
        mod $name {
            use super::*;

            fn factory(script: &Path) -> Arc<dyn AgentRunner> {
                through_adapter($kind, script)
            }

            conformance_tests!(@cases factory;
                succeeds_with_spawned_event_and_logs,
                failure_reports_exit_code,
                one_megabyte_prompt_arrives_intact,
                environment_is_exactly_the_request_env,
                stall_stops_process_and_grandchildren,
                turn_timeout_stops_chatty_process,
                cancel_sends_sigterm_first,
                cancel_escalates_to_sigkill_after_grace,
                normal_exit_leaves_no_grandchild,
            );
        }
    };
}

suite!(claude, RunnerKind::Claude);
suite!(codex, RunnerKind::Codex);
suite!(gemini, RunnerKind::Gemini);
