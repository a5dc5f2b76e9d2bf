//! The overlayfs graph driver.
//!
//! # On disk
//! ```text
//! <home>/                          <root>/overlay
//!   l/<short-id> -> ../<id>/diff   one symlink per layer: lower chains name these short links
//!   <id>/diff/                     the layer's own files: its upper directory
//!   <id>/link                      the layer's short ID (26 characters of [A-Z0-9])
//!   <id>/lower                     the parents, top first: l/<short>:l/<short>:... (absent for a base)
//!   <id>/work/                     overlayfs' work directory
//!   <id>/merged/                   where `get` mounts the layer
//!   <id>/read-write                present for layers made by `create_read_write`
//!   <id>.incomplete                beside a layer until `finalize` (the shared marker protocol)
//!   empty/                         an empty lower for read-only views of a base layer
//! ```
//! Invariants: every `l/<short>` a `lower` file names exists while the layer it points to does;
//! a layer directory without its `.incomplete` marker is complete and durable; a layer is mounted
//! on its own `merged/` only, once, whatever the number of users.
//!
//! # Mounts
//! A read-write layer mounts its parents as lowers and its `diff/` as the upper; a committed
//! layer mounts as a read-only view (its `diff/` and its parents as lowers, no upper: writes
//! fail with `EROFS`). Mounts use the new mount API (`fsopen`, one `fsconfig lowerdir+` per
//! layer: chains up to the kernel's 500 layers) and fall back to `mount(2)` with a one-page
//! option string of short links relative to the home where the kernel lacks it. Options:
//! `index=off`, `redirect_dir=off`, `metacopy=off`, so that an upper directory alone is the
//! layer's diff. Mounts are counted; a mount left by an earlier process is adopted at start-up.
//!
//! # Security
//! Layer tars are applied by the shared engine (`graphdriver::apply`), confined to the layer's
//! `diff/`; overlay whiteouts and opaque xattrs in a tar's own xattrs are refused there. The
//! driver reads `link` and `lower` files back and refuses names that are not short IDs, so a
//! damaged file cannot make a mount reach outside the home. Walking a layer's tree (changes,
//! sizes) never follows a symlink.

mod check;
mod driver;
mod fs_thread;
mod layout;
mod mount_calls;
mod mounter;
mod native_diff;
mod options;
mod startup;

pub use driver::OverlayDriver;
pub use options::{MountApi, OverlayOptions};

/// The driver's name, as the store records it.
pub const NAME: &str = "overlay";
