//! The kernel calls the driver makes to mount and unmount, behind a trait so that the driver's
//! logic (which directories, which options, which API, reference counts) can be tested without
//! root by a recording double, while the real calls are tested as root.

use std::fmt;
use std::io;
use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_fd, fsconfig_set_string, fsmount, fsopen, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::fs_thread;

/// The longest string value `fsconfig(FSCONFIG_SET_STRING)` takes (the kernel copies at most
/// 256 bytes including the NUL); longer paths are passed as file descriptors.
const FSCONFIG_MAX_STRING: usize = 255;

/// One overlay mount as the driver asks for it. Paths are relative to the driver's home, as in
/// `lower` files (`l/<short>`), so that the legacy option string stays short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverlayMount {
    /// Lower directories, top first.
    pub lowers: Vec<String>,
    /// The upper and work directories of a read-write mount; `None` for a read-only view.
    pub upper_work: Option<(String, String)>,
    /// Further `key=value` options (`index=off`, ...), in order.
    pub options: Vec<(&'static str, &'static str)>,
}

impl OverlayMount {
    /// Whether the mount has no upper directory (writes fail with `EROFS`).
    pub(crate) fn read_only(&self) -> bool {
        self.upper_work.is_none()
    }

    /// The legacy `mount(2)` option string, paths relative to home.
    pub(crate) fn legacy_data(&self) -> String {
        let mut data = format!("lowerdir={}", self.lowers.join(":"));
        if let Some((upper, work)) = &self.upper_work {
            data.push_str(&format!(",upperdir={upper},workdir={work}"));
        }
        for (key, value) in &self.options {
            data.push_str(&format!(",{key}={value}"));
        }
        data
    }
}

/// Why a mount with the new mount API did not happen.
#[derive(Debug)]
pub(crate) enum NewApiError {
    /// The kernel lacks `fsopen` or overlayfs' `lowerdir+`: use the legacy option string.
    Unavailable(String),
    /// The kernel refused the mount; the step and the kernel's own message say why.
    Failed(io::Error),
}

/// The mount-related kernel calls of the overlay driver.
pub(crate) trait MountCalls: Send + Sync + fmt::Debug {
    /// `Ok` when the kernel has overlayfs (loading the module once if needed); otherwise why not.
    fn overlay_available(&self) -> Result<(), String>;

    /// Mounts `mount` at `target` (absolute) with `fsopen`/`fsconfig`/`fsmount`/`move_mount`,
    /// one `lowerdir+` per lower.
    fn mount_new_api(
        &self,
        home: &Path,
        mount: &OverlayMount,
        target: &Path,
    ) -> Result<(), NewApiError>;

    /// Mounts with `mount(2)` and the one-page option string `data`, whose paths are relative to
    /// `home`, at `target` (absolute).
    fn mount_legacy(
        &self,
        home: &Path,
        data: &str,
        read_only: bool,
        target: &Path,
    ) -> io::Result<()>;

    /// Unmounts `target` (plain `umount`, no lazy detach).
    fn unmount(&self, target: &Path) -> io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Default)]
pub(crate) struct KernelMounts;

impl MountCalls for KernelMounts {
    fn overlay_available(&self) -> Result<(), String> {
        if proc_filesystems_has_overlay()? {
            return Ok(());
        }
        // Try loading the module once, as `mount -t overlay` would.
        let loaded = std::process::Command::new("modprobe")
            .arg("overlay")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if proc_filesystems_has_overlay()? {
            return Ok(());
        }
        Err(match loaded {
            Ok(status) => {
                format!("overlay is not in /proc/filesystems (modprobe overlay: {status})")
            }
            Err(err) => format!("overlay is not in /proc/filesystems (modprobe overlay: {err})"),
        })
    }

    fn mount_new_api(
        &self,
        home: &Path,
        mount: &OverlayMount,
        target: &Path,
    ) -> Result<(), NewApiError> {
        let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
            Ok(fd) => fd,
            Err(Errno::NOSYS) => return Err(NewApiError::Unavailable("fsopen: ENOSYS".into())),
            Err(err) => return Err(failed(None, "fsopen", err)),
        };
        for (index, lower) in mount.lowers.iter().enumerate() {
            match set_path(&fs, "lowerdir+", &home.join(lower)) {
                // An older kernel (before 6.8) has no `lowerdir+` and says so at the first one.
                Err(Errno::INVAL) if index == 0 => {
                    return Err(NewApiError::Unavailable(format!(
                        "fsconfig lowerdir+: EINVAL ({})",
                        fs_log(&fs)
                    )))
                }
                Err(err) => return Err(failed(Some(&fs), "fsconfig lowerdir+", err)),
                Ok(()) => {}
            }
        }
        if let Some((upper, work)) = &mount.upper_work {
            set_path(&fs, "upperdir", &home.join(upper))
                .map_err(|err| failed(Some(&fs), "fsconfig upperdir", err))?;
            set_path(&fs, "workdir", &home.join(work))
                .map_err(|err| failed(Some(&fs), "fsconfig workdir", err))?;
        }
        for (key, value) in &mount.options {
            fsconfig_set_string(&fs, *key, *value)
                .map_err(|err| failed(Some(&fs), &format!("fsconfig {key}={value}"), err))?;
        }
        fsconfig_create(&fs).map_err(|err| failed(Some(&fs), "fsconfig create", err))?;
        let attrs = if mount.read_only() {
            MountAttrFlags::MOUNT_ATTR_RDONLY
        } else {
            MountAttrFlags::empty()
        };
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
            .map_err(|err| failed(Some(&fs), "fsmount", err))?;
        move_mount(
            &mnt,
            "",
            CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|err| failed(None, "move_mount", err))
    }

    fn mount_legacy(
        &self,
        home: &Path,
        data: &str,
        read_only: bool,
        target: &Path,
    ) -> io::Result<()> {
        let data = std::ffi::CString::new(data)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount options"))?;
        let flags = if read_only {
            MountFlags::RDONLY
        } else {
            MountFlags::empty()
        };
        // The option string's paths are relative to home: mount from a thread whose working
        // directory is home, without changing the process's.
        let home_fd = rustix::fs::open(
            home,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        fs_thread::run_in_dir(home_fd.as_fd(), || {
            rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())
                .map_err(io::Error::from)
        })
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        // A process forked by another thread of ours holds copies of our fds (the mount's own
        // included) until it execs: the mount is busy for those few milliseconds. Retry briefly
        // before calling it really busy.
        let mut attempts = 0;
        loop {
            match rustix::mount::unmount(target, UnmountFlags::empty()) {
                Err(Errno::BUSY) if attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other.map_err(io::Error::from),
            }
        }
    }
}

/// Whether `/proc/filesystems` lists overlay.
fn proc_filesystems_has_overlay() -> Result<bool, String> {
    let text = std::fs::read_to_string("/proc/filesystems")
        .map_err(|err| format!("reading /proc/filesystems: {err}"))?;
    Ok(text
        .lines()
        .any(|line| line.split_whitespace().last() == Some("overlay")))
}

/// Sets a path parameter: as a string when it fits `fsconfig`'s limit, else as an open
/// directory (overlayfs takes layers as file descriptors since Linux 6.13).
fn set_path(fs: &OwnedFd, key: &str, path: &Path) -> Result<(), Errno> {
    if path.as_os_str().len() <= FSCONFIG_MAX_STRING {
        return fsconfig_set_string(fs, key, path);
    }
    let dir = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    fsconfig_set_fd(fs, key, &dir)
}

/// A failed step, with the kernel's message from the filesystem context's log when it has one.
fn failed(fs: Option<&OwnedFd>, step: &str, err: Errno) -> NewApiError {
    let log = fs.map(fs_log).unwrap_or_default();
    let err = io::Error::from(err);
    let message = if log.is_empty() {
        format!("{step}: {err}")
    } else {
        format!("{step}: {err} ({log})")
    };
    NewApiError::Failed(io::Error::new(err.kind(), message))
}

/// The messages the kernel queued on a filesystem context (`e overlayfs: ...` lines), joined.
fn fs_log(fs: &OwnedFd) -> String {
    let mut lines = Vec::new();
    let mut buf = [0u8; 1024];
    // Each read returns one message; ENODATA once the log is empty. Bounded against surprises.
    for _ in 0..16 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => lines.push(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
            _ => break,
        }
    }
    lines.join("; ")
}

#[cfg(test)]
pub(crate) mod recording {
    //! A recording double of [`MountCalls`] for tests without root.

    use super::*;
    use parking_lot::Mutex;
    use std::path::PathBuf;

    /// A call the double saw.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Call {
        NewApi {
            mount: OverlayMount,
            target: PathBuf,
        },
        Legacy {
            data: String,
            read_only: bool,
            target: PathBuf,
        },
        Unmount {
            target: PathBuf,
        },
    }

    /// Records calls; answers as configured.
    #[derive(Debug, Default)]
    pub(crate) struct RecordingMounts {
        pub calls: Mutex<Vec<Call>>,
        /// The new API answers "unavailable", as an old kernel would.
        pub no_new_api: bool,
        /// The kernel has no overlayfs.
        pub no_overlay: bool,
        /// Unmounts fail with `EBUSY`.
        pub busy: Mutex<bool>,
    }

    impl RecordingMounts {
        pub(crate) fn calls(&self) -> Vec<Call> {
            self.calls.lock().clone()
        }
    }

    impl MountCalls for RecordingMounts {
        fn overlay_available(&self) -> Result<(), String> {
            if self.no_overlay {
                return Err("overlay is not in /proc/filesystems".into());
            }
            Ok(())
        }

        fn mount_new_api(
            &self,
            _home: &Path,
            mount: &OverlayMount,
            target: &Path,
        ) -> Result<(), NewApiError> {
            if self.no_new_api {
                return Err(NewApiError::Unavailable("fsopen: ENOSYS".into()));
            }
            self.calls.lock().push(Call::NewApi {
                mount: mount.clone(),
                target: target.to_path_buf(),
            });
            Ok(())
        }

        fn mount_legacy(
            &self,
            _home: &Path,
            data: &str,
            read_only: bool,
            target: &Path,
        ) -> io::Result<()> {
            self.calls.lock().push(Call::Legacy {
                data: data.to_string(),
                read_only,
                target: target.to_path_buf(),
            });
            Ok(())
        }

        fn unmount(&self, target: &Path) -> io::Result<()> {
            if *self.busy.lock() {
                return Err(io::Error::from_raw_os_error(libc_ebusy()));
            }
            self.calls.lock().push(Call::Unmount {
                target: target.to_path_buf(),
            });
            Ok(())
        }
    }

    fn libc_ebusy() -> i32 {
        Errno::BUSY.raw_os_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_data_lists_lowers_top_first_then_upper_work_and_options() {
        let mount = OverlayMount {
            lowers: vec!["l/AAA".into(), "l/BBB".into()],
            upper_work: Some(("x/diff".into(), "x/work".into())),
            options: vec![("index", "off"), ("metacopy", "off")],
        };
        assert_eq!(
            mount.legacy_data(),
            "lowerdir=l/AAA:l/BBB,upperdir=x/diff,workdir=x/work,index=off,metacopy=off"
        );
        assert!(!mount.read_only());
    }

    #[test]
    fn read_only_view_has_no_upper() {
        let mount = OverlayMount {
            lowers: vec!["l/AAA".into(), "empty".into()],
            upper_work: None,
            options: vec![("index", "off")],
        };
        assert_eq!(mount.legacy_data(), "lowerdir=l/AAA:empty,index=off");
        assert!(mount.read_only());
    }

    /// A tiny overlay in a temp dir, mounted for real with `how` and checked, then unmounted.
    /// `deep` nests the directories so that absolute paths exceed fsconfig's string limit.
    fn real_mount_round_trip(legacy: bool, deep: bool) {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root to mount");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut home = tmp.path().to_path_buf();
        if deep {
            home = home.join("d".repeat(200)).join("e".repeat(100));
        }
        for dir in ["a", "b", "u", "w", "m"] {
            std::fs::create_dir_all(home.join(dir)).unwrap();
        }
        std::fs::write(home.join("a/from-a"), b"a").unwrap();
        std::fs::write(home.join("b/from-b"), b"b").unwrap();
        let mount = OverlayMount {
            lowers: vec!["a".into(), "b".into()],
            upper_work: Some(("u".into(), "w".into())),
            options: vec![("index", "off")],
        };
        let target = home.join("m");
        let calls = KernelMounts;
        if legacy {
            calls
                .mount_legacy(&home, &mount.legacy_data(), false, &target)
                .unwrap();
        } else {
            calls.mount_new_api(&home, &mount, &target).unwrap();
        }
        let seen = std::fs::read_to_string(target.join("from-a")).unwrap()
            + &std::fs::read_to_string(target.join("from-b")).unwrap();
        std::fs::write(target.join("new"), b"n").unwrap();
        calls.unmount(&target).unwrap();
        assert_eq!(seen, "ab");
        assert!(home.join("u/new").exists());
    }

    #[test]
    fn real_new_api_mount() {
        real_mount_round_trip(false, false);
    }

    #[test]
    fn real_new_api_mount_with_paths_beyond_fsconfig_strings() {
        real_mount_round_trip(false, true);
    }

    #[test]
    fn real_legacy_mount_with_relative_paths() {
        real_mount_round_trip(true, false);
    }

    #[test]
    fn real_new_api_failure_names_the_step_and_the_kernel_message() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root to mount");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("m")).unwrap();
        let mount = OverlayMount {
            lowers: vec!["missing".into()],
            upper_work: None,
            options: vec![],
        };
        match KernelMounts.mount_new_api(tmp.path(), &mount, &tmp.path().join("m")) {
            Err(NewApiError::Failed(err)) => {
                let text = err.to_string();
                assert!(text.contains("lowerdir+"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
