//! AFL++ driver for the `eval_gen` target (see `v8cage::fuzzing::eval_gen`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage::fuzzing::eval_gen(data);
    });
}
