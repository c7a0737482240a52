//! The Gatehouse internal token.
