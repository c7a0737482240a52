//! AFL entry point of the `cookie_header` target (see `gatehouse_fuzz::cookie_header`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::cookie_header(data));
}
