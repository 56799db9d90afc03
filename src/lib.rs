//! meterstore
#![deny(missing_docs)]
pub mod codec;
pub mod error;
pub mod format;
mod fsutil;
mod segment;
