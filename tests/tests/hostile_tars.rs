//! The hostile-tar suite run against the vfs driver: every tar is refused or confined, nothing
//! beside the layer changes, and a refused layer leaves nothing behind.

use std::path::Path;
use std::sync::Arc;

use graphdriver::Driver;
use graphdriver_vfs::VfsDriver;

fn vfs(home: &Path) -> Option<Arc<dyn Driver>> {
    Some(Arc::new(VfsDriver::new(home).expect("vfs driver")))
}

store_tests::hostile_tar_tests!(vfs, tmp = store_tests::driver_suite::fast_tmp());
