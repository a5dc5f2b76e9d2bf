//! Choosing how to mount: the new mount API where the kernel has it, else the one-page legacy
//! option string; and how deep a chain each can mount.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::layout::SHORT_ID_LEN;
use crate::mount_calls::{MountCalls, NewApiError, OverlayMount};
use crate::options::MountApi;

/// The kernel's limit on overlayfs lower layers (`OVL_MAX_STACK`).
pub(crate) const KERNEL_MAX_LOWERS: usize = 500;

/// The ID length the legacy depth limit is computed for: a 64-hex cache-ID plus `-init`.
/// Longer IDs still mount when their option string fits; the check at mount time is exact.
const NOMINAL_ID_LEN: usize = 69;

/// Why a mount failed.
#[derive(Debug)]
pub(crate) enum MountError {
    /// The legacy option string does not fit one page.
    TooLong {
        /// Its length with the terminating NUL.
        len: usize,
        /// The page size.
        max: usize,
    },
    /// The new API was required but the kernel lacks it.
    NewApiUnavailable(String),
    /// The kernel refused.
    Kernel(io::Error),
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountError::TooLong { len, max } => write!(
                f,
                "the mount option string is {len} bytes, more than a page ({max}): the chain is too deep for the legacy mount API"
            ),
            MountError::NewApiUnavailable(reason) => {
                write!(f, "the new mount API is unavailable: {reason}")
            }
            MountError::Kernel(err) => write!(f, "{err}"),
        }
    }
}

impl MountError {
    /// The error as an `io::Error`, for the driver's typed mount error.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            MountError::Kernel(err) => err,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Mounts overlays for one driver home.
#[derive(Debug)]
pub(crate) struct Mounter {
    calls: Arc<dyn MountCalls>,
    home: PathBuf,
    choice: MountApi,
    /// Whether the new API is (still) in use; cleared when the kernel turns out to lack it.
    new_api: AtomicBool,
    options: Vec<(&'static str, &'static str)>,
    page_size: usize,
}

impl Mounter {
    /// A mounter for `home`; `options` are added to every mount.
    pub(crate) fn new(
        calls: Arc<dyn MountCalls>,
        home: PathBuf,
        choice: MountApi,
        options: Vec<(&'static str, &'static str)>,
        page_size: usize,
    ) -> Self {
        Mounter {
            calls,
            home,
            new_api: AtomicBool::new(choice != MountApi::Legacy),
            choice,
            options,
            page_size,
        }
    }

    /// The kernel calls.
    pub(crate) fn calls(&self) -> &dyn MountCalls {
        self.calls.as_ref()
    }

    /// The options added to every mount, as `key=value,...`.
    pub(crate) fn options_text(&self) -> String {
        self.options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether mounts use the new API (as far as known: the first mount settles it).
    pub(crate) fn uses_new_api(&self) -> bool {
        self.new_api.load(Ordering::Relaxed)
    }

    /// A mount of `lowers` (top first) with an optional upper and work directory, all relative
    /// to home, with this mounter's options.
    pub(crate) fn overlay(
        &self,
        lowers: Vec<String>,
        upper_work: Option<(String, String)>,
    ) -> OverlayMount {
        OverlayMount {
            lowers,
            upper_work,
            options: self.options.clone(),
        }
    }

    /// Mounts `mount` at `target`, with the new API unless the kernel lacks it.
    pub(crate) fn mount(&self, mount: &OverlayMount, target: &Path) -> Result<(), MountError> {
        if self.uses_new_api() {
            match self.calls.mount_new_api(&self.home, mount, target) {
                Ok(()) => return Ok(()),
                Err(NewApiError::Failed(err)) => return Err(MountError::Kernel(err)),
                Err(NewApiError::Unavailable(reason)) => {
                    if self.choice == MountApi::New {
                        return Err(MountError::NewApiUnavailable(reason));
                    }
                    self.new_api.store(false, Ordering::Relaxed);
                }
            }
        }
        let data = mount.legacy_data();
        if data.len() + 1 > self.page_size {
            return Err(MountError::TooLong {
                len: data.len() + 1,
                max: self.page_size,
            });
        }
        self.calls
            .mount_legacy(&self.home, &data, mount.read_only(), target)
            .map_err(MountError::Kernel)
    }

    /// The deepest chain (layers, the mounted one included) this mounter can mount.
    pub(crate) fn max_depth(&self) -> usize {
        if self.uses_new_api() {
            KERNEL_MAX_LOWERS
        } else {
            legacy_max_depth(self.page_size, &self.options)
        }
    }
}

/// How many layers fit the legacy option string for IDs of the nominal length: each lower costs
/// `l/<short>` plus a `:`, and a read-write mount also names `<id>/diff` and `<id>/work`.
pub(crate) fn legacy_max_depth(page_size: usize, options: &[(&str, &str)]) -> usize {
    let per_lower = 2 + SHORT_ID_LEN + 1;
    let options_len: usize = options.iter().map(|(k, v)| 2 + k.len() + v.len()).sum();
    let read_write_fixed = "lowerdir=".len()
        + ",upperdir=".len()
        + NOMINAL_ID_LEN
        + "/diff".len()
        + ",workdir=".len()
        + NOMINAL_ID_LEN
        + "/work".len()
        + options_len;
    // +1: the first lower has no `:` before it; -1: the terminating NUL.
    let room = (page_size - 1).saturating_sub(read_write_fixed) + 1;
    // A read-write mount's own layer is the upper; a read-only view names it as a lower, but
    // then has no upper/work, which is longer than one lower.
    (room / per_lower + 1).min(KERNEL_MAX_LOWERS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount_calls::recording::{Call, RecordingMounts};

    const OPTIONS: &[(&str, &str)] = &[
        ("index", "off"),
        ("redirect_dir", "off"),
        ("metacopy", "off"),
    ];

    fn mounter(calls: Arc<RecordingMounts>, choice: MountApi) -> Mounter {
        Mounter::new(calls, PathBuf::from("/h"), choice, OPTIONS.to_vec(), 4096)
    }

    fn chain(depth: usize) -> Vec<String> {
        (0..depth).map(|i| format!("l/{:026}", i)).collect()
    }

    #[test]
    fn legacy_depth_on_4k_pages_is_above_dockers_125() {
        let depth = legacy_max_depth(4096, OPTIONS);
        assert!(depth >= 125, "{depth}");
        assert!(depth < 200, "{depth}");
    }

    #[test]
    fn legacy_depth_is_exact_for_nominal_ids() {
        let depth = legacy_max_depth(4096, OPTIONS);
        let id = "x".repeat(NOMINAL_ID_LEN);
        let upper_work = Some((format!("{id}/diff"), format!("{id}/work")));
        let calls = Arc::new(RecordingMounts::default());
        let m = mounter(calls, MountApi::Legacy);
        let fits = m.overlay(chain(depth - 1), upper_work.clone());
        assert!(m.mount(&fits, Path::new("/t")).is_ok());
        let too_deep = m.overlay(chain(depth), upper_work);
        assert!(matches!(
            m.mount(&too_deep, Path::new("/t")),
            Err(MountError::TooLong { .. })
        ));
    }

    #[test]
    fn new_api_is_used_when_the_kernel_has_it() {
        let calls = Arc::new(RecordingMounts::default());
        let m = mounter(calls.clone(), MountApi::Auto);
        let mount = m.overlay(chain(600), None);
        m.mount(&mount, Path::new("/t")).unwrap();
        assert!(matches!(&calls.calls()[..], [Call::NewApi { .. }]));
        assert_eq!(m.max_depth(), KERNEL_MAX_LOWERS);
    }

    #[test]
    fn falls_back_to_the_legacy_string_without_the_new_api() {
        let calls = Arc::new(RecordingMounts {
            no_new_api: true,
            ..Default::default()
        });
        let m = mounter(calls.clone(), MountApi::Auto);
        let mount = m.overlay(chain(2), None);
        m.mount(&mount, Path::new("/t")).unwrap();
        assert!(!m.uses_new_api());
        assert!(m.max_depth() < KERNEL_MAX_LOWERS);
        match &calls.calls()[..] {
            [Call::Legacy {
                data, read_only, ..
            }] => {
                assert!(data.starts_with("lowerdir=l/"), "{data}");
                assert!(
                    data.ends_with(",index=off,redirect_dir=off,metacopy=off"),
                    "{data}"
                );
                assert!(*read_only);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_required_new_api_does_not_fall_back() {
        let calls = Arc::new(RecordingMounts {
            no_new_api: true,
            ..Default::default()
        });
        let m = mounter(calls.clone(), MountApi::New);
        let mount = m.overlay(chain(2), None);
        assert!(matches!(
            m.mount(&mount, Path::new("/t")),
            Err(MountError::NewApiUnavailable(_))
        ));
        assert!(calls.calls().is_empty());
    }
}
