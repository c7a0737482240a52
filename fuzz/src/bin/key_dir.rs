//! AFL entry point of the `key_dir` target (see `gatehouse_fuzz::key_dir`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::key_dir(data));
}
