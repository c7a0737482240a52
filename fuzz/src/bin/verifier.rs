//! AFL entry point of the `verifier` target (see `gatehouse_fuzz::verifier`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::verifier(data));
}
