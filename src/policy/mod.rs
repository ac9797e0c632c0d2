//! The decisions: pure functions, no I/O, the clock passed in.
pub mod accounting;
pub mod auth;
pub mod reply;
pub mod throttle;
