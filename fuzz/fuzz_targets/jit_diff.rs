#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    v8cage_harness::jit_diff(data);
});
