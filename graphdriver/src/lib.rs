//! The graph driver interface and what every driver shares.
//!
//! A driver owns the directories that hold layers' files. The store names a layer by an opaque ID
//! (the cache-ID, or a read-write layer's mount-ID) and asks the driver to create it above a parent,
//! fill it from a layer tar, mount it, diff it and remove it. No driver knows the store or its
//! database.
//!
//! Shared pieces, one module each: [`apply`] (a layer tar into a directory, confined),
//! [`fsutil`] (durability, the incomplete-marker protocol, safe removal), [`mount_refs`]
//! (mount reference counts), [`mountinfo`] (`/proc/self/mountinfo`), [`changes`] and [`diff`]
//! (what changed in a layer, as a list and as a tar), [`tree`] (fd-relative tree reading),
//! [`getter`] (a layer's files for tar-split reassembly), [`tar_writer`], and [`validate_id`].
//!
//! # Security
//! Layer tars are hostile input. [`apply::apply_tar`] confines every member to the layer
//! directory: no name, symlink (from the tar or from a parent layer) or hard link can make it
//! create, change or delete anything outside, whiteouts cannot climb out, and overlayfs xattrs
//! from a tar are refused; header sizes are bounded by the parser before allocation. What a tar
//! can do is fill its own layer: any tree, including setuid files and (as root) device nodes,
//! within the disk space it is given. Reading a layer back ([`tree`], [`getter`], [`diff`])
//! never follows a symlink either, and [`fsutil::remove_all`] never leaves the tree it removes
//! nor crosses into a mount.

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
mod tar_pipe;
pub mod tar_writer;
pub mod tree;

pub use check::DriverFinding;
pub use driver::{Capabilities, Change, ChangeKind, CreateOpts, Driver, LayerListing, MountOpts};
pub use error::{DriverError, ErrorKind, Result};
pub use id::{validate_id, MAX_ID_LEN};
pub use mount_refs::MountRefs;
