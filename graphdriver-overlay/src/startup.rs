//! Start-up checks: will overlayfs work in this home? Each refusal names its reason.

use std::io;
use std::path::{Path, PathBuf};

use graphdriver::{DriverError, Result};
use rustix::fs::{Dir, FileType, Mode, OFlags};

use crate::mounter::{MountError, Mounter};
use crate::NAME;

/// `statfs` magic of overlayfs.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// The prefix of the probe directories the start-up test mount uses; a leftover one (a crash
/// during start-up) is removed at the next start.
pub(crate) const PROBE_PREFIX: &str = ".probe-";

/// The name of a backing filesystem by its `statfs` magic, as Docker reports it.
pub(crate) fn fs_name(magic: i64) -> String {
    match magic {
        0xEF53 => "extfs".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        0xF2F5_2010 => "f2fs".into(),
        OVERLAYFS_MAGIC => "overlayfs".into(),
        0x6969 => "nfs".into(),
        0xF15F => "ecryptfs".into(),
        other => format!("unknown (magic {other:#x})"),
    }
}

/// The backing filesystem of `home`; refuses overlayfs (overlay on overlay does not mount).
pub(crate) fn backing_fs(home: &Path) -> Result<String> {
    let stat = rustix::fs::statfs(home).map_err(|err| DriverError::Io {
        op: "statfs",
        path: home.to_path_buf(),
        source: err.into(),
    })?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets.
    let magic = stat.f_type as i64;
    if magic == OVERLAYFS_MAGIC {
        return Err(DriverError::IncompatibleFs {
            driver: NAME,
            path: home.to_path_buf(),
            reason: "the home is on overlayfs, and overlayfs cannot use overlayfs as its upper layer (overlay on overlay)".into(),
        });
    }
    Ok(fs_name(magic))
}

/// Whether directory entries in `dir` carry their file type (`d_type`): overlayfs needs it to
/// find whiteouts without a `stat` per entry, and refuses to work correctly without it.
pub(crate) fn supports_d_type(dir: &Path) -> io::Result<bool> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut entries = Dir::read_from(&fd)?;
    let mut seen = false;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        seen = true;
        if entry.file_type() == FileType::Unknown {
            return Ok(false);
        }
    }
    Ok(seen)
}

/// A probe directory under home, unmounted and removed when dropped, whatever failed.
struct Probe<'a> {
    dir: PathBuf,
    mounted: Option<PathBuf>,
    mounter: &'a Mounter,
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if let Some(target) = self.mounted.take() {
            let _ = self.mounter.calls().unmount(&target);
        }
        let _ = graphdriver::fsutil::remove_all(&self.dir);
    }
}

/// Removes probe directories left by an interrupted start-up: those of processes that are gone
/// (another process, or another driver in this one, may be probing the same home right now).
pub(crate) fn remove_stale_probes(home: &Path, mounter: &Mounter) {
    let Ok(entries) = std::fs::read_dir(home) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PROBE_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
        });
        if !alive {
            let dir = entry.path();
            let _ = mounter.calls().unmount(&dir.join("merged"));
            let _ = graphdriver::fsutil::remove_all(&dir);
        }
    }
}

/// Checks `d_type` and mounts a tiny overlay in home for real: a lower with a file, an upper,
/// a work directory; writes through the mount and deletes the lower file, which must leave a
/// whiteout in the upper. Settles which mount API is used. Refuses with the reason.
pub(crate) fn probe(home: &Path, mounter: &Mounter) -> Result<()> {
    let dir = home.join(format!(
        "{PROBE_PREFIX}{}-{}",
        std::process::id(),
        crate::layout::new_short_id()
    ));
    let io_err = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| DriverError::Io { op, path, source }
    };
    let mut probe = Probe {
        dir: dir.clone(),
        mounted: None,
        mounter,
    };
    for sub in ["lower", "upper", "work", "merged"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
    }
    let lower_file = dir.join("lower/file");
    std::fs::write(&lower_file, b"probe").map_err(io_err("write", &lower_file))?;
    if !supports_d_type(&dir).map_err(io_err("read directory", &dir))? {
        return Err(DriverError::IncompatibleFs {
            driver: NAME,
            path: home.to_path_buf(),
            reason: "the backing filesystem does not report file types in directory entries (d_type); for xfs, format it with ftype=1".into(),
        });
    }
    let rel = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mount = mounter.overlay(
        vec![format!("{rel}/lower")],
        Some((format!("{rel}/upper"), format!("{rel}/work"))),
    );
    let target = dir.join("merged");
    mounter
        .mount(&mount, &target)
        .map_err(|err| refusal(err, home))?;
    probe.mounted = Some(target.clone());
    let written = target.join("new");
    let check = std::fs::write(&written, b"x")
        .map_err(io_err("write through the probe mount", &written))
        .and_then(|()| {
            std::fs::remove_file(target.join("file"))
                .map_err(io_err("delete through the probe mount", &target))
        });
    let unmounted = mounter.calls().unmount(&target);
    probe.mounted = None;
    check?;
    unmounted.map_err(|source| DriverError::Mount {
        id: rel.clone(),
        op: "unmount probe".into(),
        source,
    })?;
    let whiteout = dir.join("upper/file");
    let meta = std::fs::symlink_metadata(&whiteout).map_err(io_err("stat", &whiteout))?;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if !(meta.file_type().is_char_device() && meta.rdev() == 0) {
        return Err(DriverError::NotSupported {
            driver: NAME,
            reason: "deleting a lower file through a probe mount left no whiteout (0/0 character device) in the upper directory".into(),
        });
    }
    Ok(())
}

/// Turns a failed probe mount into the refusal a user can act on.
fn refusal(err: MountError, home: &Path) -> DriverError {
    match err {
        MountError::Kernel(err)
            if err.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) =>
        {
            DriverError::PrerequisitesMissing {
                driver: NAME,
                reason: format!("mounting overlayfs needs CAP_SYS_ADMIN (root): {err}"),
            }
        }
        other => DriverError::NotSupported {
            driver: NAME,
            reason: format!(
                "a test mount of overlayfs in {} failed: {other}",
                home.display()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_type_is_seen_on_the_test_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        assert!(supports_d_type(dir.path()).unwrap());
    }

    #[test]
    fn names_common_filesystems() {
        assert_eq!(fs_name(0xEF53), "extfs");
        assert_eq!(fs_name(0x794c_7630), "overlayfs");
        assert!(fs_name(0x1234).contains("0x1234"));
    }
}
