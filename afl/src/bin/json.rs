//! AFL++ driver for the `json` target (see `v8cage_harness::json`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::json(data);
    });
}
