//! The string form of a runner's `command`: a single word is the program's path, a
//! longer line a shell line receiving the CLI's arguments as `"$@"`; a relative program
//! path at the start resolves against the workflow's folder.

use super::{BASE, Fixture};

fn command(f: &Fixture, cmd: &str) -> Vec<String> {
    let yaml = BASE.replace(
        "    command: ./agent.sh\n",
        &format!("    command: {cmd}\n"),
    );
    let wf = f.load(&yaml).unwrap_or_else(|e| panic!("{e}"));
    wf.agent_state("implement").unwrap().runner.command.clone()
}

#[test]
fn a_single_word_is_the_program() {
    let f = Fixture::new();
    let base = f.dir.path().canonicalize().unwrap_or(f.dir.path().into());
    let got = command(&f, "bin/agent");
    assert!(got.len() == 1 && got[0].ends_with("/bin/agent"), "{got:?}");
    assert!(
        std::path::Path::new(&got[0]).is_absolute(),
        "resolved against {}: {got:?}",
        base.display()
    );
    assert_eq!(command(&f, "claude"), ["claude"], "looked up on PATH");
    assert_eq!(command(&f, "/opt/agent"), ["/opt/agent"]);
}

#[test]
fn a_line_is_a_shell_line_that_receives_the_arguments() {
    let f = Fixture::new();
    let got = command(&f, "\"./wrapper.sh --fast\"");
    assert_eq!(got[..2], ["sh", "-c"]);
    assert!(
        got[2].starts_with('\''),
        "the resolved path is quoted: {got:?}"
    );
    assert!(
        got[2].ends_with("/wrapper.sh' --fast \"$@\""),
        "the arguments follow the line: {got:?}"
    );
    assert_eq!(got[3], "./wrapper.sh", "$0 names the program");
    let got = command(&f, "\"python3 agent.py\"");
    assert_eq!(got, ["sh", "-c", "python3 agent.py \"$@\"", "python3"]);
    let got = command(&f, "\"$AGENT_HOME/run\"");
    assert_eq!(
        got,
        ["sh", "-c", "$AGENT_HOME/run \"$@\"", "$AGENT_HOME/run"]
    );
}
