//! AFL++ driver for the `roundtrip` target (see `v8cage_harness::roundtrip`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::roundtrip(data);
    });
}
