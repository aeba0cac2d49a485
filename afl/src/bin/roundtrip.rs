//! AFL++ driver for the `roundtrip` target (see `v8cage::fuzzing::roundtrip`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage::fuzzing::roundtrip(data);
    });
}
