//! The graph driver interface and what every driver shares.
//!
//! A driver owns the directories that hold layers' files. The store names a layer by an opaque ID
//! (the cache-ID, or a read-write layer's mount-ID) and asks the driver to create it above a parent,
//! fill it from a layer tar, mount it, diff it and remove it. No driver knows the store or its
//! database.

mod driver;
mod error;

pub use driver::{
    Capabilities, Change, ChangeKind, CreateOpts, Driver, LayerListing, MountOpts,
};
pub use error::{DriverError, ErrorKind, Result};
