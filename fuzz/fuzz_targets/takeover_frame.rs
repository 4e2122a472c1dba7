#![no_main]
// The body lives in gracewire::fuzzing so that cargo test replays this target's corpus.
libfuzzer_sys::fuzz_target!(|data: &[u8]| gracewire::fuzzing::takeover_frame(data));
