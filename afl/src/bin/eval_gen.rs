//! AFL++ driver for the `eval_gen` target (see `v8cage_harness::eval_gen`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::eval_gen(data);
    });
}
