//! Replays every committed fuzz input (`fuzz/corpus/<target>/`, the seeds and what fuzzing
//! kept, and `fuzz/regressions/<target>/`, each crash fuzzing ever found) through the target
//! bodies on stable Rust, so a decoder regression fails `cargo test` without a fuzzer.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs `target` on every file under `corpus/<name>` and `regressions/<name>`; returns how many.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(name)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{} fails its fuzz target", file.display());
            count += 1;
        }
    }
    count
}

macro_rules! corpus_test {
    ($name:ident, $min:expr) => {
        #[test]
        fn $name() {
            let n = replay(stringify!($name), gracewire::fuzzing::$name);
            // The seeds are committed: an empty corpus means the replay looks in the wrong place.
            assert!(n >= $min, "only {n} inputs for {}", stringify!($name));
            println!("{} inputs replayed", n);
        }
    };
}

corpus_test!(message, 20);
corpus_test!(update, 20);
corpus_test!(open, 5);
corpus_test!(fsm, 3);
corpus_test!(config, 4);
corpus_test!(plugin_answer, 3);
corpus_test!(bfd_packet, 3);
corpus_test!(bfd_session, 2);
corpus_test!(takeover_frame, 6);
corpus_test!(control_request, 4);
corpus_test!(restart_record, 2);
corpus_test!(bfd_handover, 2);
