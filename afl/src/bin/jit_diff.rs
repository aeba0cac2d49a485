//! AFL++ driver for the `jit_diff` target (see `v8cage_harness::jit_diff`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::jit_diff(data);
    });
}
