//! The overlayfs graph driver.

mod fs_thread;
mod layout;
mod mount_calls;
mod mounter;
mod options;

pub use options::{MountApi, OverlayOptions};
