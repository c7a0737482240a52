//! AFL entry point of the `auth_json` target (see `gatehouse_fuzz::auth_json`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::auth_json(data));
}
