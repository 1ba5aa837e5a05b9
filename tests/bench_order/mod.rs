//! The drain bench's reading of callgrind output (`BENCH_SYMBOL_ORDER`, how
//! `link/symbol-order.txt` is made), tested here: a bench target's tests do not run
//! under `cargo test`.

use std::path::Path;

#[path = "../../benches/drain/order.rs"]
mod order;

#[path = "../../benches/drain/layout.rs"]
mod layout;

#[path = "../../benches/drain/machine.rs"]
mod machine;

use order::{
    Profile, STARTED, functions_of, is_startup_part, order_text, order_texts, read_outputs,
};

/// A callgrind file as valgrind 3.19 writes it (compressed names, a call with its
/// inclusive cost line, a function of another object, a recursion marker).
#[test]
fn own_costs_of_the_binarys_functions() {
    let text = "\
events: Ir
ob=(1) /bin/karajan
fl=(1) ???
fn=(1) main
0x10 5
cob=(2) /lib/libc.so.6
cfn=(2) malloc
calls=2 0x20
0x11 900
+1 3
fn=(3) _ZN7karajan5store6append17h0123456789abcdefE'2
0x40 40
cfn=(4) sqlite3_step
calls=1 0x50
0x41 1000
ob=(2)
fn=(2)
0x90 70
ob=(1)
fn=(4)
0x50 30
";
    let counts = functions_of(text, Path::new("/bin/karajan"));
    assert_eq!(counts.get("main"), Some(&8));
    assert_eq!(
        counts.get("_ZN7karajan5store6append17h0123456789abcdefE"),
        Some(&40)
    );
    assert_eq!(counts.get("sqlite3_step"), Some(&30));
    assert!(!counts.contains_key("malloc"), "{counts:?}");
    assert_eq!(
        order_text(&counts),
        "_ZN7karajan5store6append17h0123456789abcdefE\nsqlite3_step\nmain\n"
    );
}

/// The files of every process the drain ran under callgrind are summed; the daemon's
/// log and other files beside them are not read as callgrind output.
#[test]
fn the_outputs_of_a_scratch_folder_are_summed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    file(
        "callgrind.101",
        "events: Ir\nob=(1) /bin/karajan\nfn=(1) main\n0x10 5\n",
    );
    file(
        "callgrind.102",
        "events: Ir\nob=(1) /bin/karajan\nfn=(1) main\n0x10 2\nfn=(2) tick\n0x20 9\n",
    );
    file(
        "karajan.log",
        "ob=(1) /bin/karajan\nfn=(1) not_a_function\n0x10 100\n",
    );
    file(
        "callgrind.103.1",
        "events: Ir\npart: 1\ndesc: Trigger: --dump-before=_ZN7karajan8resident21release_startup_pages17h0E\nob=(1) /bin/karajan\nfn=(1) parse\n0x10 50\nfn=(2) main\n0x20 1\n",
    );
    let profile = read_outputs(dir.path(), Path::new("/bin/karajan")).expect("read");
    let counts = &profile.running;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(counts.get("main"), Some(&7));
    assert_eq!(counts.get("tick"), Some(&9));
    assert_eq!(profile.startup.len(), 2, "{profile:?}");
    assert_eq!(profile.startup.get("parse"), Some(&50));
}

/// The functions the running daemon ran come first, hottest first; those only
/// start-up ran go to their own file (laid out after them, see `link/README.md`).
#[test]
fn start_up_only_functions_go_to_their_own_file() {
    let mut p = Profile::default();
    p.startup.insert("parse".into(), 900);
    p.startup.insert("poll".into(), 5);
    p.running.insert("poll".into(), 50);
    p.running.insert("append".into(), 70);
    let (running, startup) = order_texts(&p);
    assert_eq!(running, "append\npoll\n");
    assert_eq!(startup, "parse\n");
}

/// Both modes' profiles are summed phase by phase.
#[test]
fn profiles_add_up_phase_by_phase() {
    let mut all = Profile::default();
    assert!(all.is_empty());
    let mut one = Profile::default();
    one.startup.insert("parse".into(), 10);
    one.running.insert("poll".into(), 5);
    all.add(one);
    let mut two = Profile::default();
    two.running.insert("poll".into(), 7);
    all.add(two);
    assert!(!all.is_empty());
    assert_eq!(all.startup.get("parse"), Some(&10));
    assert_eq!(all.running.get("poll"), Some(&12));
}

/// The running functions go by mode: those every mode ran, then each mode's own, each
/// group hottest first, so a daemon's one mode runs two contiguous stretches of code.
#[test]
fn running_functions_go_common_first_then_each_modes_own() {
    let mut all = Profile::default();
    let mut polling = Profile::default();
    polling.running.insert("append".into(), 10);
    polling.running.insert("poll_timer".into(), 500);
    polling.running.insert("decide".into(), 40);
    all.add(polling);
    let mut webhooks = Profile::default();
    webhooks.running.insert("append".into(), 10);
    webhooks.running.insert("verify_signature".into(), 300);
    webhooks.running.insert("decide".into(), 40);
    all.add(webhooks);
    let (running, _) = order_texts(&all);
    // By heat alone: poll_timer, verify_signature, decide, append.
    assert_eq!(running, "decide\nappend\npoll_timer\nverify_signature\n");
}

/// The dump's pattern names the function the daemon calls once started: renaming it
/// would silently put every function in the running part.
#[test]
fn the_start_up_marker_names_the_function_that_gives_pages_back() {
    let name = STARTED.trim_matches('*');
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/resident.rs"))
            .expect("src/resident.rs");
    assert!(
        source.contains(&format!("#[inline(never)]\npub fn {name}(")),
        "src/resident.rs defines `{name}`, never inlined"
    );
    let actor = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/orchestrator/actor.rs"),
    )
    .expect("actor.rs");
    assert!(actor.contains(&format!("crate::resident::{name}()")));
}

/// Callgrind's part dumped on entering the start-up marker names the option as its
/// trigger; the part written at exit does not.
#[test]
fn a_part_dumped_at_the_start_is_told_by_its_trigger() {
    let part = "version: 1\ncreator: callgrind-3.19.0\npid: 7\ncmd: karajan run\npart: 1\n\ndesc: I1 cache:\ndesc: Trigger: --dump-before=_ZN7karajan8resident21release_startup_pages17h0E\n\nfn=(1) main\n";
    let last = "version: 1\npart: 2\ndesc: Trigger: Program termination\n\nfn=(1) main\n";
    assert!(is_startup_part(part));
    assert!(!is_startup_part(last));
}

/// The share of the order files' names a binary defines, from `nm --defined-only`'s
/// output (undefined symbols have no address and are not listed).
#[test]
fn the_layout_check_counts_the_listed_names_the_binary_defines() {
    let order = "_ZN7karajan4main17h0000000000000001E\n_start\n\n_ZN3old17h00000000000000ffE\n";
    let nm = "\
0000000000401000 T _start
0000000000402000 T _ZN7karajan4main17h0000000000000001E
0000000000403000 t _ZN7karajan4main17h0000000000000002E
";
    assert_eq!(layout::coverage(order, nm), (2, 3));
    assert_eq!(layout::coverage(order, ""), (0, 3));
    // 67 %: what a new direct dependency left of the file (every karajan name renamed).
    assert!(layout::is_stale(2, 3));
    assert!(!layout::is_stale(9, 10));
    assert!(layout::is_stale(0, 3));
}

/// The committed order files are read from the package root, and `nm` reads this
/// package's own test binary (which defines `_start`, and `main`).
#[test]
fn the_layout_check_reads_a_binary() {
    let me = std::env::current_exe().expect("test binary");
    let (found, listed) = layout::of_binary(&me).expect("nm reads the test binary");
    assert!(listed > 1000, "{listed} names listed in link/");
    assert!(found >= 1, "_start at least: {found}");
}

/// The drain bench's reading of the machine's stolen time (`/proc/stat`'s `cpu` line:
/// user nice system idle iowait irq softirq steal guest guest_nice).
#[test]
fn the_stolen_share_is_steal_over_all_ticks() {
    let before = machine::ticks_of("cpu  100 0 50 800 0 0 0 50 7 0\ncpu0 1 2 3\n").expect("reads");
    assert_eq!(before, (50, 1000));
    let after = machine::ticks_of("cpu  200 0 100 1300 0 0 0 150 9 0\n").expect("reads");
    assert_eq!(after, (150, 1750));
    assert_eq!(machine::stolen_share(before, after), Some(100.0 / 750.0));
    assert_eq!(machine::stolen_share(after, after), None);
    assert_eq!(machine::ticks_of("intr 1 2\n"), None);
    // This machine's own file reads.
    assert!(machine::ticks().is_some());
}
