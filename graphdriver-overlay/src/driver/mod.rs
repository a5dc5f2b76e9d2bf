//! The overlay driver: opening a home, and the trait. Layer directories are in [`layers`],
//! mounts in [`mounts`].

mod layers;
mod mounts;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::diff::{write_upper_tar, TarPipe, UpperFormat};
use graphdriver::getter::DirFileGetter;
use graphdriver::{
    fsutil, mountinfo, Capabilities, Change, CreateOpts, Driver, DriverError, LayerListing,
    MountOpts, MountRefs, Result,
};
use tar_split::{FileGetter, TarReader};

use crate::layout::{self, Layout};
use crate::mount_calls::{KernelMounts, MountCalls};
use crate::mounter::Mounter;
use crate::native_diff;
use crate::options::OverlayOptions;
use crate::startup;
use crate::NAME;
use layers::check_id;

/// The overlayfs graph driver. See the crate documentation for the layout on disk.
#[derive(Debug)]
pub struct OverlayDriver {
    layout: Layout,
    mounter: Mounter,
    refs: MountRefs,
    /// Whether each mounted layer is mounted read-only: a later `get` must not hand a writable
    /// mount to a caller that asked for a read-only one.
    read_only_mounts: parking_lot::Mutex<HashMap<String, bool>>,
    /// Layers whose mount was found in place at start-up and not since remounted by this driver.
    adopted: parking_lot::Mutex<HashSet<String>>,
    backing_fs: String,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DriverError + 'a {
    move |source| DriverError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The overlay options to pass explicitly: `index=off` (no inode index: layers are not shared
/// between overlays by hard links), `redirect_dir=off` and `metacopy=off` (an upper directory
/// then holds whole copies of what changed, so a diff read from it alone is complete). Only the
/// features the kernel knows are named, since naming an unknown one fails the mount.
fn mount_options() -> Vec<(&'static str, &'static str)> {
    let params = Path::new("/sys/module/overlay/parameters");
    let mut options = vec![("index", "off")];
    for feature in ["redirect_dir", "metacopy"] {
        if params.join(feature).exists() {
            options.push((feature, "off"));
        }
    }
    options
}

impl OverlayDriver {
    /// Opens (creating if needed) the driver's home (`<root>/overlay`) and checks that overlayfs
    /// works there: the kernel has it, the home is not on overlayfs, the backing filesystem has
    /// `d_type`, and a test mount in the home succeeds. Mounts left under the home by an earlier
    /// process are adopted.
    pub fn new(home: &Path, opts: OverlayOptions) -> Result<Self> {
        Self::with_calls(home, opts, Arc::new(KernelMounts), true)
    }

    /// [`OverlayDriver::new`] with the given kernel calls; `probe`: run the test mount (a
    /// recording double cannot: nothing really mounts).
    pub(crate) fn with_calls(
        home: &Path,
        opts: OverlayOptions,
        calls: Arc<dyn MountCalls>,
        probe: bool,
    ) -> Result<Self> {
        // A refusal leaves no home behind: a store that finds `<root>/overlay` takes it for an
        // overlay store, so a failed attempt must not look like one.
        let created = std::fs::symlink_metadata(home).is_err();
        let opened = Self::open(home, opts, calls, probe);
        if opened.is_err() && created {
            let _ = fsutil::remove_all(home);
        }
        opened
    }

    fn open(
        home: &Path,
        opts: OverlayOptions,
        calls: Arc<dyn MountCalls>,
        probe: bool,
    ) -> Result<Self> {
        calls
            .overlay_available()
            .map_err(|reason| DriverError::NotSupported {
                driver: NAME,
                reason,
            })?;
        let passive = opts.passive;
        if !passive {
            std::fs::create_dir_all(home).map_err(io_err("create directory", home))?;
        }
        let home = std::fs::canonicalize(home).map_err(io_err("resolve", home))?;
        let backing_fs = startup::backing_fs(&home)?;
        let layout = Layout::new(home.clone());
        if !passive {
            for dir in [layout.link_dir(), layout.empty()] {
                std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            }
        }
        let page_size = rustix::param::page_size();
        let mounter = Mounter::new(
            calls,
            home.clone(),
            opts.mount_api,
            mount_options(),
            page_size,
        );
        if !passive {
            startup::remove_stale_probes(&home, &mounter);
        }
        if probe && !passive {
            startup::probe(&home, &mounter)?;
        }
        let driver = OverlayDriver {
            layout,
            mounter,
            refs: MountRefs::new(),
            read_only_mounts: parking_lot::Mutex::new(HashMap::new()),
            adopted: parking_lot::Mutex::new(HashSet::new()),
            backing_fs,
        };
        driver.adopt_mounts()?;
        if !passive {
            driver.prune_dangling_links();
        }
        Ok(driver)
    }
}

impl Driver for OverlayDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn status(&self) -> Vec<(String, String)> {
        let api = if self.mounter.uses_new_api() {
            "new (fsopen, fsconfig lowerdir+)"
        } else {
            "legacy (mount(2) option string)"
        };
        vec![
            ("Backing Filesystem".into(), self.backing_fs.clone()),
            ("Supports d_type".into(), "true".into()),
            ("Native Overlay Diff".into(), "true".into()),
            ("Mount API".into(), api.into()),
            ("Max Depth".into(), self.mounter.max_depth().to_string()),
            ("Mount Options".into(), self.mounter.options_text()),
            ("Home".into(), self.layout.home().display().to_string()),
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            reproducible_diff: false,
            max_depth: self.mounter.max_depth(),
            mounts: true,
        }
    }

    fn create(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()> {
        self.create_layer(id, parent, opts, false)
    }

    fn create_read_write(&self, id: &str, parent: Option<&str>, opts: &CreateOpts) -> Result<()> {
        self.create_layer(id, parent, opts, true)
    }

    fn finalize(&self, id: &str) -> Result<()> {
        self.existing(id)?;
        fsutil::finalize_dir(&self.layout.layer(id))
    }

    fn remove(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let merged = self.layout.merged(id);
        let mounted = self.refs.count(id) > 0
            || mountinfo::mounts_under(&merged)?
                .iter()
                .any(|m| m.mount_point == merged);
        if mounted {
            return Err(DriverError::Busy {
                id: id.to_owned(),
                reason: format!("{} is mounted", merged.display()),
            });
        }
        let short = self.short_id(id).ok();
        if let Some(short) = &short {
            if let Some(child) = self.child_of(id, short)? {
                return Err(DriverError::Busy {
                    id: id.to_owned(),
                    reason: format!("layer {child} stands on it"),
                });
            }
        }
        fsutil::remove_layer_dir(&self.layout.layer(id))?;
        if let Some(short) = short {
            let link = self.layout.link(&short);
            match std::fs::remove_file(&link) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err("remove link", &link)(err))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn get(&self, id: &str, opts: &MountOpts) -> Result<PathBuf> {
        self.existing(id)?;
        layers::refuse_mount_label(opts.mount_label.as_deref())?;
        let read_only = opts.read_only || !self.is_read_write(id);
        self.refs.get(id, || {
            self.mount_layer(id, read_only)?;
            self.read_only_mounts
                .lock()
                .insert(id.to_owned(), read_only);
            Ok(())
        })?;
        // A mount in place serves only requests of its own kind: never a writable mount to a
        // caller that asked for a read-only one.
        let mounted_read_only = self.read_only_mounts.lock().get(id).copied();
        if mounted_read_only.is_some_and(|ro| ro != read_only) {
            self.put(id)?;
            let (has, wants) = if read_only {
                ("read-write", "read-only")
            } else {
                ("read-only", "read-write")
            };
            return Err(DriverError::Busy {
                id: id.to_owned(),
                reason: format!("mounted {has} by another user; a {wants} mount must wait until it is unmounted"),
            });
        }
        Ok(self.layout.merged(id))
    }

    fn put(&self, id: &str) -> Result<()> {
        check_id(id)?;
        self.refs.put(id, || self.unmount_layer(id)).map(|_| ())
    }

    fn exists(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.layout.layer(id).is_dir()
    }

    fn layers(&self) -> Result<Vec<LayerListing>> {
        let home = self.layout.home();
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(home).map_err(io_err("read directory", home))? {
            let entry = entry.map_err(io_err("read directory", home))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if layout::is_reserved(&name) || name.starts_with(startup::PROBE_PREFIX) {
                continue;
            }
            if let Some(id) = name.strip_suffix(".incomplete") {
                found.insert(id.to_owned(), false);
            } else if check_id(&name).is_ok() {
                let complete = !fsutil::is_incomplete(&entry.path());
                found.entry(name).or_insert(complete);
            }
        }
        Ok(found
            .into_iter()
            .map(|(id, complete)| LayerListing { id, complete })
            .collect())
    }

    fn metadata(&self, id: &str) -> Result<BTreeMap<String, String>> {
        self.existing(id)?;
        let lowers = self
            .lower_chain(id)?
            .iter()
            .map(|short| {
                let id = self.id_of_short(short)?;
                Ok(self.layout.diff(&id).display().to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta = BTreeMap::new();
        if !lowers.is_empty() {
            meta.insert("LowerDir".into(), lowers.join(":"));
        }
        meta.insert(
            "UpperDir".into(),
            self.layout.diff(id).display().to_string(),
        );
        meta.insert("WorkDir".into(), self.layout.work(id).display().to_string());
        meta.insert(
            "MergedDir".into(),
            self.layout.merged(id).display().to_string(),
        );
        Ok(meta)
    }

    fn cleanup(&self) -> Result<()> {
        // Only what this driver mounted: a mount adopted from an earlier process (a `rw mount`
        // of the command line, a writer this process only reads beside) stays.
        let mut first_err = None;
        for id in self.refs.mounted() {
            if self.adopted.lock().contains(&id) {
                continue;
            }
            for _ in 0..self.refs.count(&id) {
                if let Err(err) = self.put(&id) {
                    first_err.get_or_insert(err);
                    break;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn apply_diff(&self, id: &str, parent: Option<&str>, tar: &mut TarReader<'_>) -> Result<u64> {
        self.existing(id)?;
        let _ = parent;
        if self.refs.count(id) > 0 {
            return Err(DriverError::Busy {
                id: id.to_owned(),
                reason: "applying a diff to a mounted layer".into(),
            });
        }
        // The `l/` links are the store's own symlinks: resolve them to the real directories,
        // which the apply engine opens without following links.
        let lowers = self
            .lower_diffs(id)?
            .into_iter()
            .map(|link| std::fs::canonicalize(&link).unwrap_or(link))
            .collect();
        native_diff::apply(&self.layout.diff(id), id, lowers, tar)
    }

    fn diff(&self, id: &str, parent: Option<&str>) -> Result<Box<dyn Read + Send>> {
        self.existing(id)?;
        self.native_only(id, parent)?;
        let upper = self.layout.diff(id);
        let pipe = TarPipe::spawn(id, move |out| {
            write_upper_tar(&upper, UpperFormat::Overlay, out)
        })?;
        Ok(Box::new(pipe))
    }

    fn changes(&self, id: &str, parent: Option<&str>) -> Result<Vec<Change>> {
        self.existing(id)?;
        self.native_only(id, parent)?;
        native_diff::changes(&self.layout.diff(id), &self.lower_diffs(id)?)
    }

    fn diff_size(&self, id: &str, parent: Option<&str>) -> Result<u64> {
        self.existing(id)?;
        self.native_only(id, parent)?;
        native_diff::size(&self.layout.diff(id))
    }

    fn file_getter(&self, id: &str) -> Result<Box<dyn FileGetter + Send>> {
        self.existing(id)?;
        Ok(Box::new(DirFileGetter::new(&self.layout.diff(id))?))
    }

    fn mount_count(&self, id: &str) -> usize {
        self.refs.count(id)
    }

    fn check_layer(&self, id: &str, lower_ids: &[&str]) -> Vec<graphdriver::DriverFinding> {
        crate::check::check_layer(&self.layout, id, lower_ids)
    }

    fn repair_layer(
        &self,
        id: &str,
        lower_ids: &[&str],
        finding: &graphdriver::DriverFinding,
    ) -> Result<bool> {
        crate::check::repair_layer(&self.layout, id, lower_ids, finding)
    }
}

#[cfg(test)]
mod tests;
