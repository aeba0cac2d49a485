//! AFL++ driver for the `api_ops` target (see `v8cage_harness::api_ops`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::api_ops(data);
    });
}
