//! The overlay driver's options.

/// Which kernel interface mounts the overlays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountApi {
    /// The new mount API (`fsopen`, one `fsconfig lowerdir+` per layer: chains up to the
    /// kernel's 500 layers) where the kernel has it, else the legacy option string.
    #[default]
    Auto,
    /// The new mount API only; start-up fails where the kernel lacks it.
    New,
    /// `mount(2)` with a one-page option string of short links: about 130 layers on 4 KiB pages.
    Legacy,
}

/// Options of the overlay driver.
#[derive(Debug, Clone, Default)]
pub struct OverlayOptions {
    /// How to mount.
    pub mount_api: MountApi,
    /// Open an existing home for reading and checking only: no test mount, no start-up
    /// housekeeping (stale probes, dangling `l/` links), no directory created. For read-only
    /// store opens beside a live writer and for `store-fsck` without `--repair`, which must
    /// change nothing on disk.
    pub passive: bool,
}
