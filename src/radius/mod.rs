//! The wire: everything that knows RADIUS bytes.
pub mod cache;
pub mod codec;
pub mod disconnect;
pub mod radsec;
pub mod server;
