//! AFL++ driver for the `config_diff` target (see `v8cage_harness::config_diff`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::config_diff(data);
    });
}
