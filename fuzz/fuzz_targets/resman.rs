//! libFuzzer target: the resman parser (see `pms_sync::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pms_sync::fuzzing::run("resman", data);
});
