//! Mounting and unmounting layers, and adopting mounts an earlier process left.

use graphdriver::{mountinfo, DriverError, Result};
use rustix::io::Errno;

use super::layers::check_id;
use super::OverlayDriver;
use crate::layout;

impl OverlayDriver {
    /// Counts each overlay mounted on a layer's `merged/` (left by an earlier process) as one
    /// user, so that `get` reuses it instead of mounting twice.
    pub(super) fn adopt_mounts(&self) -> Result<()> {
        for mount in mountinfo::mounts_under(self.layout.home())? {
            if mount.fs_type != "overlay" {
                continue;
            }
            let Ok(rel) = mount.mount_point.strip_prefix(self.layout.home()) else {
                continue;
            };
            let mut parts = rel.components();
            if let (Some(id), Some(merged), None) = (parts.next(), parts.next(), parts.next()) {
                let id = id.as_os_str().to_string_lossy();
                if merged.as_os_str() == layout::MERGED_DIR && check_id(&id).is_ok() {
                    self.refs.adopt(&id, 1);
                    self.adopted.lock().insert(id.to_string());
                    let read_only = mount.mount_options.split(',').any(|o| o == "ro");
                    self.read_only_mounts
                        .lock()
                        .insert(id.into_owned(), read_only);
                }
            }
        }
        Ok(())
    }

    /// Mounts the layer on its `merged/`.
    pub(super) fn mount_layer(&self, id: &str, read_only: bool) -> Result<()> {
        let chain = self.lower_chain(id)?;
        let mut lowers: Vec<String> = chain.iter().map(|s| layout::link_rel(s)).collect();
        let upper_work = if !read_only {
            Some((
                format!("{id}/{}", layout::DIFF_DIR),
                format!("{id}/{}", layout::WORK_DIR),
            ))
        } else {
            lowers.insert(0, layout::link_rel(&self.short_id(id)?));
            None
        };
        // overlayfs needs a lower, and two when there is no upper: add the empty one.
        if lowers.is_empty() || (upper_work.is_none() && lowers.len() == 1) {
            lowers.push(layout::EMPTY_DIR.to_owned());
        }
        let mount = self.mounter.overlay(lowers, upper_work);
        self.mounter
            .mount(&mount, &self.layout.merged(id))
            .map_err(|err| DriverError::Mount {
                id: id.to_owned(),
                op: "mount".into(),
                source: err.into_io(),
            })
    }

    pub(super) fn unmount_layer(&self, id: &str) -> Result<()> {
        let merged = self.layout.merged(id);
        match self.mounter.calls().unmount(&merged) {
            Ok(()) => Ok(()),
            Err(err) if err.raw_os_error() == Some(Errno::BUSY.raw_os_error()) => {
                Err(DriverError::Busy {
                    id: id.to_owned(),
                    reason: format!("unmounting {}: {err}", merged.display()),
                })
            }
            Err(source) => Err(DriverError::Mount {
                id: id.to_owned(),
                op: "unmount".into(),
                source,
            }),
        }
    }
}
