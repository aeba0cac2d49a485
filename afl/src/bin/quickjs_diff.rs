//! AFL++ driver for the `quickjs_diff` target (see `v8cage_harness::quickjs_diff`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::quickjs_diff(data);
    });
}
