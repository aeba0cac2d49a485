//! AFL++ driver for the `api_ops` target (see `v8cage::fuzzing::api_ops`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage::fuzzing::api_ops(data);
    });
}
