#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    v8cage_harness::config_diff(data);
});
