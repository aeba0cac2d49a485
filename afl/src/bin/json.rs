//! AFL++ driver for the `json` target (see `v8cage::fuzzing::json`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage::fuzzing::json(data);
    });
}
