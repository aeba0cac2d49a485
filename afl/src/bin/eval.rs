//! AFL++ driver for the `eval` target (see `v8cage_harness::eval`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::eval(data);
    });
}
