//! The driver conformance suite run against the vfs driver (as any user; owners, devices and
//! trusted xattrs are checked when run as root).

use std::path::Path;
use std::sync::Arc;

use graphdriver::Driver;
use graphdriver_vfs::VfsDriver;

fn vfs(home: &Path) -> Option<Arc<dyn Driver>> {
    Some(Arc::new(VfsDriver::new(home).expect("vfs driver")))
}

// vfs works the same on any filesystem: run on tmpfs where there is one, so the per-layer
// syncfs does not wait on the disk.
store_tests::driver_suite_tests!(vfs, tmp = store_tests::driver_suite::fast_tmp());
