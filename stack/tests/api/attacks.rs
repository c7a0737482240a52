//! The attack battery (DESIGN §14): what an attacker on the internet tries against sign-in and
//! the session endpoints, and what the owner still can do while it happens.

mod flood;
mod freshness;
mod lockout;
