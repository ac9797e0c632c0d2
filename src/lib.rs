//! radgate: a RADIUS server for WiFi access codes.
//!
//! A request flows one way: wire ([`radius`]) → decision ([`policy`]) →
//! store ([`store`]) → wire.

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod portal;
pub mod radius;
pub mod store;
pub mod tls;
pub mod token;
pub mod ui;
pub mod voucher;
