//! The graph driver interface and what every driver shares.
//!
//! A driver owns the directories that hold layers' files. The store names a layer by an opaque ID
//! (the cache-ID, or a read-write layer's mount-ID) and asks the driver to create it above a parent,
//! fill it from a layer tar, mount it, diff it and remove it. No driver knows the store or its
//! database.
//!
//! Shared pieces, one module each: [`apply`] (a layer tar into a directory, confined),
//! [`fsutil`] (durability, the incomplete-marker protocol, safe removal), [`mount_refs`]
//! (mount reference counts), [`mountinfo`] (`/proc/self/mountinfo`), and [`validate_id`].

pub mod apply;
pub mod changes;
pub mod check;
pub mod diff;
mod driver;
mod error;
pub mod fsutil;
pub mod getter;
mod id;
pub mod mount_refs;
pub mod mountinfo;
pub mod tar_writer;
pub mod tree;

pub use check::DriverFinding;
pub use driver::{Capabilities, Change, ChangeKind, CreateOpts, Driver, LayerListing, MountOpts};
pub use error::{DriverError, ErrorKind, Result};
pub use id::{validate_id, MAX_ID_LEN};
pub use mount_refs::MountRefs;
