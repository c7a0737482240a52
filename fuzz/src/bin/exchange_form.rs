//! AFL entry point of the `exchange_form` target (see `gatehouse_fuzz::exchange_form`).

fn main() {
    afl::fuzz!(|data: &[u8]| gatehouse_fuzz::exchange_form(data));
}
