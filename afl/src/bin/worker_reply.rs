//! AFL++ driver for the `worker_reply` target (see `v8cage_harness::worker_reply`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        v8cage_harness::worker_reply(data);
    });
}
