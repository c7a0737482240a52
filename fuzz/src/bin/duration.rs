//! AFL entry point of the `duration` target (see `gatehouse_fuzz::duration`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::duration(data));
}
