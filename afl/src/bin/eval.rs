//! AFL++ driver for the `eval` target (see `v8cage::fuzzing::eval`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage::fuzzing::eval(data);
    });
}
