//! The overlay driver: layer directories, mounts with reference counts, and the trait.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphdriver::diff::{write_upper_tar, TarPipe, UpperFormat};
use graphdriver::getter::DirFileGetter;
use graphdriver::{
    fsutil, mountinfo, validate_id, Capabilities, Change, CreateOpts, Driver, DriverError,
    LayerListing, MountOpts, MountRefs, Result,
};
use rustix::io::Errno;
use tar_split::{FileGetter, TarReader};

use crate::layout::{self, Layout};
use crate::mount_calls::{KernelMounts, MountCalls};
use crate::mounter::Mounter;
use crate::native_diff;
use crate::options::OverlayOptions;
use crate::startup;
use crate::NAME;

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
        std::fs::create_dir_all(home).map_err(io_err("create directory", home))?;
        let home = std::fs::canonicalize(home).map_err(io_err("resolve", home))?;
        let backing_fs = startup::backing_fs(&home)?;
        let layout = Layout::new(home.clone());
        for dir in [layout.link_dir(), layout.empty()] {
            std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        let page_size = rustix::param::page_size();
        let mounter = Mounter::new(
            calls,
            home.clone(),
            opts.mount_api,
            mount_options(),
            page_size,
        );
        startup::remove_stale_probes(&home, &mounter);
        if probe {
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
        driver.prune_dangling_links();
        Ok(driver)
    }

    /// Counts each overlay mounted on a layer's `merged/` (left by an earlier process) as one
    /// user, so that `get` reuses it instead of mounting twice.
    fn adopt_mounts(&self) -> Result<()> {
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

    /// Removes `l/` links whose layer is gone: what a removal interrupted between deleting the
    /// layer directory and its link leaves. Best effort: a link that cannot be read is kept.
    fn prune_dangling_links(&self) {
        let Ok(entries) = std::fs::read_dir(self.layout.link_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !layout::is_short_id(&name) {
                continue;
            }
            if let Ok(id) = self.id_of_short(&name) {
                if !self.layout.layer(&id).exists()
                    && !fsutil::is_incomplete(&self.layout.layer(&id))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Checks that `id` is valid and names an existing layer.
    fn existing(&self, id: &str) -> Result<()> {
        check_id(id)?;
        if self.layout.layer(id).is_dir() {
            Ok(())
        } else {
            Err(DriverError::UnknownLayer { id: id.to_owned() })
        }
    }

    /// The layer's short ID, from its `link` file.
    fn short_id(&self, id: &str) -> Result<String> {
        let path = self.layout.link_file(id);
        let text = std::fs::read_to_string(&path).map_err(io_err("read", &path))?;
        let short = text.trim_end_matches('\n');
        if layout::is_short_id(short) {
            Ok(short.to_owned())
        } else {
            Err(damaged(&path, "not a short link ID"))
        }
    }

    /// The layer's parent chain as short IDs, top first, from its `lower` file (empty for a
    /// base layer).
    fn lower_chain(&self, id: &str) -> Result<Vec<String>> {
        let path = self.layout.lower_file(id);
        match std::fs::read_to_string(&path) {
            Ok(text) => layout::parse_lower(&text)
                .ok_or_else(|| damaged(&path, "not a chain of l/<short-id> links")),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(io_err("read", &path)(err)),
        }
    }

    /// The layer ID a short link points to (`l/<short> -> ../<id>/diff`).
    fn id_of_short(&self, short: &str) -> Result<String> {
        let link = self.layout.link(short);
        let target = std::fs::read_link(&link).map_err(io_err("read link", &link))?;
        let mut parts = target.components();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(std::path::Component::ParentDir), Some(id), Some(diff), None)
                if diff.as_os_str() == layout::DIFF_DIR =>
            {
                Ok(id.as_os_str().to_string_lossy().into_owned())
            }
            _ => Err(damaged(&link, "not a link to ../<id>/diff")),
        }
    }

    /// The layer's parent ID, from the first link of its chain.
    pub(crate) fn parent_of(&self, id: &str) -> Result<Option<String>> {
        match self.lower_chain(id)?.first() {
            Some(short) => self.id_of_short(short).map(Some),
            None => Ok(None),
        }
    }

    /// The diff directories of the layer's parents, top first.
    pub(crate) fn lower_diffs(&self, id: &str) -> Result<Vec<PathBuf>> {
        Ok(self
            .lower_chain(id)?
            .iter()
            .map(|short| self.layout.link(short))
            .collect())
    }

    fn create_layer(
        &self,
        id: &str,
        parent: Option<&str>,
        opts: &CreateOpts,
        read_write: bool,
    ) -> Result<()> {
        check_id(id)?;
        if let Some(key) = opts.storage_opts.keys().next() {
            return Err(DriverError::NotSupported {
                driver: NAME,
                reason: format!("storage option {key:?} is not supported by the overlay driver"),
            });
        }
        let mut chain = Vec::new();
        if let Some(parent) = parent {
            self.existing(parent)?;
            chain.push(self.short_id(parent)?);
            chain.extend(self.lower_chain(parent)?);
        }
        // The chain plus this layer must mount.
        let depth = chain.len() + 1;
        if depth > self.mounter.max_depth() {
            return Err(DriverError::NotSupported {
                driver: NAME,
                reason: format!(
                    "layer {id} would be {depth} layers deep; this driver mounts at most {}",
                    self.mounter.max_depth()
                ),
            });
        }
        let dir = self.layout.layer(id);
        fsutil::create_incomplete_dir(&dir)?;
        let short = layout::new_short_id();
        let filled = self.fill_layer_dir(id, &short, &chain, read_write);
        if let Err(err) = filled {
            let _ = std::fs::remove_file(self.layout.link(&short));
            let _ = fsutil::remove_layer_dir(&dir);
            return Err(err);
        }
        if read_write {
            self.finalize(id)?;
        }
        Ok(())
    }

    fn fill_layer_dir(
        &self,
        id: &str,
        short: &str,
        chain: &[String],
        read_write: bool,
    ) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        // The layer directory itself stays 0700 (fsutil); what is inside is reached through it.
        for (path, mode) in [
            (self.layout.diff(id), 0o755),
            (self.layout.work(id), 0o700),
            (self.layout.merged(id), 0o700),
        ] {
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(&path)
                .map_err(io_err("create directory", &path))?;
        }
        let link_file = self.layout.link_file(id);
        std::fs::write(&link_file, short).map_err(io_err("write", &link_file))?;
        if !chain.is_empty() {
            let lower_file = self.layout.lower_file(id);
            std::fs::write(&lower_file, layout::render_lower(chain))
                .map_err(io_err("write", &lower_file))?;
        }
        if read_write {
            let marker = self.layout.read_write_marker(id);
            std::fs::write(&marker, b"").map_err(io_err("write", &marker))?;
        }
        let link = self.layout.link(short);
        let target = Path::new("..").join(id).join(layout::DIFF_DIR);
        std::os::unix::fs::symlink(&target, &link).map_err(io_err("create link", &link))?;
        Ok(())
    }

    /// A layer whose chain names the short link `short` of layer `id`: removing `id` would
    /// leave that layer's lower chain dangling.
    fn child_of(&self, id: &str, short: &str) -> Result<Option<String>> {
        let home = self.layout.home();
        for entry in std::fs::read_dir(home).map_err(io_err("read directory", home))? {
            let entry = entry.map_err(io_err("read directory", home))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == id || check_id(&name).is_err() || !entry.path().is_dir() {
                continue;
            }
            if let Ok(chain) = self.lower_chain(&name) {
                if chain.iter().any(|s| s == short) {
                    return Ok(Some(name));
                }
            }
        }
        Ok(None)
    }

    /// Whether the layer mounts with an upper directory.
    fn is_read_write(&self, id: &str) -> bool {
        self.layout.read_write_marker(id).exists()
    }

    /// Mounts the layer on its `merged/`.
    fn mount_layer(&self, id: &str, read_only: bool) -> Result<()> {
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

    fn unmount_layer(&self, id: &str) -> Result<()> {
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

    /// Whether `parent` is the layer's own parent, so its upper directory alone is its diff.
    fn is_own_parent(&self, id: &str, parent: Option<&str>) -> Result<bool> {
        Ok(self.parent_of(id)?.as_deref() == parent)
    }

    fn native_only(&self, id: &str, parent: Option<&str>) -> Result<()> {
        if self.is_own_parent(id, parent)? {
            return Ok(());
        }
        Err(DriverError::NotSupported {
            driver: NAME,
            reason: format!(
                "diff of layer {id} against {parent:?}, which is not its parent: the overlay driver diffs a layer against its own parent only"
            ),
        })
    }
}

/// Checks that `id` can name a layer here: a valid ID (see [`validate_id`]) that is none of the
/// home's own entries (`l`, `empty`, start-up probes) and holds none of the characters the
/// legacy mount option string gives a meaning (`,` `:` `\`), which could otherwise add options.
fn check_id(id: &str) -> Result<()> {
    validate_id(id)?;
    if layout::is_reserved(id)
        || id.starts_with(startup::PROBE_PREFIX)
        || id.contains([',', ':', '\\'])
    {
        return Err(DriverError::InvalidId { id: id.to_owned() });
    }
    Ok(())
}

fn damaged(path: &Path, what: &str) -> DriverError {
    DriverError::Io {
        op: "read layer metadata",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned()),
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
        native_diff::apply(&self.layout.diff(id), id, tar)
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
mod tests {
    use super::*;
    use crate::mount_calls::recording::{Call, RecordingMounts};
    use graphdriver::ErrorKind;

    fn driver(calls: &Arc<RecordingMounts>) -> (tempfile::TempDir, OverlayDriver) {
        let tmp = tempfile::tempdir().unwrap();
        let d = OverlayDriver::with_calls(
            &tmp.path().join("overlay"),
            OverlayOptions::default(),
            calls.clone(),
            false,
        )
        .unwrap();
        (tmp, d)
    }

    fn chain(d: &OverlayDriver, ids: &[&str]) {
        let mut parent = None;
        for id in ids {
            d.create(id, parent, &CreateOpts::default()).unwrap();
            d.finalize(id).unwrap();
            parent = Some(*id);
        }
    }

    fn mounts(calls: &RecordingMounts) -> Vec<OverlayMountSeen> {
        calls
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::NewApi { mount, target } => Some(OverlayMountSeen {
                    lowers: mount.lowers,
                    upper_work: mount.upper_work,
                    target,
                }),
                _ => None,
            })
            .collect()
    }

    #[derive(Debug)]
    struct OverlayMountSeen {
        lowers: Vec<String>,
        upper_work: Option<(String, String)>,
        target: PathBuf,
    }

    #[test]
    fn layout_links_and_lower_chain() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a", "b", "c"]);
        let home = d.layout.home().to_path_buf();
        for sub in ["diff", "work", "merged", "link"] {
            assert!(home.join("c").join(sub).exists(), "{sub}");
        }
        assert!(!home.join("a/lower").exists());
        let short = |id: &str| std::fs::read_to_string(home.join(id).join("link")).unwrap();
        assert_eq!(
            std::fs::read_to_string(home.join("c/lower")).unwrap(),
            format!("l/{}:l/{}", short("b"), short("a"))
        );
        assert_eq!(
            std::fs::read_link(home.join("l").join(short("c"))).unwrap(),
            Path::new("../c/diff")
        );
        assert_eq!(d.parent_of("c").unwrap().as_deref(), Some("b"));
        assert_eq!(d.parent_of("a").unwrap(), None);
    }

    #[test]
    fn read_only_view_names_the_layer_and_its_parents_without_upper() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a", "b"]);
        let merged = d.get("b", &MountOpts::default()).unwrap();
        let seen = mounts(&calls);
        let short = |id: &str| d.short_id(id).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].lowers,
            [format!("l/{}", short("b")), format!("l/{}", short("a"))]
        );
        assert_eq!(seen[0].upper_work, None);
        assert_eq!(seen[0].target, merged);
    }

    #[test]
    fn base_layer_view_gets_the_empty_lower() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        d.get("a", &MountOpts::default()).unwrap();
        assert_eq!(mounts(&calls)[0].lowers[1], "empty");
    }

    #[test]
    fn read_write_layer_mounts_its_diff_as_upper() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        d.create_read_write("rw", Some("a"), &CreateOpts::default())
            .unwrap();
        assert!(!graphdriver::fsutil::is_incomplete(&d.layout.layer("rw")));
        d.get("rw", &MountOpts::default()).unwrap();
        let seen = mounts(&calls);
        assert_eq!(seen[0].lowers, [format!("l/{}", d.short_id("a").unwrap())]);
        assert_eq!(
            seen[0].upper_work,
            Some(("rw/diff".to_string(), "rw/work".to_string()))
        );
        d.put("rw").unwrap();
        d.get(
            "rw",
            &MountOpts {
                read_only: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(mounts(&calls)[1].upper_work, None);
    }

    #[test]
    fn mounts_once_per_layer_and_unmounts_with_the_last_put() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        let p1 = d.get("a", &MountOpts::default()).unwrap();
        let p2 = d.get("a", &MountOpts::default()).unwrap();
        assert_eq!(p1, p2);
        d.put("a").unwrap();
        assert_eq!(calls.calls().len(), 1);
        assert_eq!(d.remove("a").unwrap_err().kind(), ErrorKind::Busy);
        d.put("a").unwrap();
        assert!(matches!(calls.calls()[1], Call::Unmount { .. }));
        assert!(matches!(d.put("a"), Err(DriverError::NotMounted { .. })));
        d.remove("a").unwrap();
    }

    #[test]
    fn a_mount_serves_only_requests_of_its_kind() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        d.create_read_write("rw", Some("a"), &CreateOpts::default())
            .unwrap();
        d.get("rw", &MountOpts::default()).unwrap();
        let ro = MountOpts {
            read_only: true,
            ..Default::default()
        };
        assert_eq!(d.get("rw", &ro).unwrap_err().kind(), ErrorKind::Busy);
        d.put("rw").unwrap();
        assert!(matches!(d.put("rw"), Err(DriverError::NotMounted { .. })));
        d.get("rw", &ro).unwrap();
        assert_eq!(
            d.get("rw", &MountOpts::default()).unwrap_err().kind(),
            ErrorKind::Busy
        );
        // A committed layer is read-only whatever the request says.
        d.get("a", &MountOpts::default()).unwrap();
        d.get("a", &ro).unwrap();
    }

    #[test]
    fn busy_unmount_keeps_the_mount_counted() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        d.get("a", &MountOpts::default()).unwrap();
        *calls.busy.lock() = true;
        assert_eq!(d.put("a").unwrap_err().kind(), ErrorKind::Busy);
        *calls.busy.lock() = false;
        d.put("a").unwrap();
    }

    #[test]
    fn cleanup_unmounts_everything() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a", "b"]);
        d.get("a", &MountOpts::default()).unwrap();
        d.get("b", &MountOpts::default()).unwrap();
        d.get("b", &MountOpts::default()).unwrap();
        d.cleanup().unwrap();
        let unmounts = calls
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Unmount { .. }))
            .count();
        assert_eq!(unmounts, 2);
    }

    #[test]
    fn remove_deletes_the_dir_and_its_link_and_is_idempotent() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        let link = d.layout.link(&d.short_id("a").unwrap());
        d.remove("a").unwrap();
        assert!(!d.exists("a"));
        assert!(std::fs::symlink_metadata(link).is_err());
        d.remove("a").unwrap();
    }

    #[test]
    fn create_refuses_a_missing_parent_a_duplicate_and_bad_ids() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        let opts = CreateOpts::default();
        assert_eq!(
            d.create("a", Some("nope"), &opts).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(!d.exists("a"));
        d.create("a", None, &opts).unwrap();
        assert_eq!(
            d.create("a", None, &opts).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            d.create("../x", None, &opts).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        for reserved in ["l", "empty", ".probe-1", "a,upperdir=x", "a:b", "a\\b"] {
            assert_eq!(
                d.create(reserved, None, &opts).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{reserved}"
            );
        }
        assert_eq!(
            d.get("zz", &MountOpts::default()).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn layers_lists_incomplete_and_complete() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a"]);
        d.create("b", Some("a"), &CreateOpts::default()).unwrap();
        let listed = d.layers().unwrap();
        assert_eq!(
            listed,
            [
                LayerListing {
                    id: "a".into(),
                    complete: true
                },
                LayerListing {
                    id: "b".into(),
                    complete: false
                },
            ]
        );
    }

    #[test]
    fn a_refused_start_leaves_no_home_behind() {
        let calls = Arc::new(RecordingMounts::default());
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("overlay");
        // Nothing really mounts, so the probe's whiteout check fails.
        let refused = OverlayDriver::with_calls(&home, OverlayOptions::default(), calls, true);
        assert!(refused.is_err());
        assert!(!home.exists());
    }

    #[test]
    fn a_kernel_without_overlay_is_refused_with_the_reason() {
        let calls = Arc::new(RecordingMounts {
            no_overlay: true,
            ..Default::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("overlay");
        match OverlayDriver::with_calls(&home, OverlayOptions::default(), calls, false) {
            Err(DriverError::NotSupported { reason, .. }) => {
                assert!(reason.contains("/proc/filesystems"), "{reason}")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(!home.exists());
    }

    #[test]
    fn dangling_links_are_pruned_at_start() {
        let calls = Arc::new(RecordingMounts::default());
        let (tmp, d) = driver(&calls);
        chain(&d, &["a", "b"]);
        let link_b = d.layout.link(&d.short_id("b").unwrap());
        // A removal interrupted after the directory went.
        graphdriver::fsutil::remove_layer_dir(&d.layout.layer("b")).unwrap();
        drop(d);
        let d = OverlayDriver::with_calls(
            &tmp.path().join("overlay"),
            OverlayOptions::default(),
            calls.clone(),
            false,
        )
        .unwrap();
        assert!(std::fs::symlink_metadata(&link_b).is_err());
        assert!(d.layout.link(&d.short_id("a").unwrap()).exists());
    }

    #[test]
    fn metadata_names_the_directories() {
        let calls = Arc::new(RecordingMounts::default());
        let (_tmp, d) = driver(&calls);
        chain(&d, &["a", "b"]);
        let meta = d.metadata("b").unwrap();
        assert_eq!(meta["LowerDir"], d.layout.diff("a").display().to_string());
        assert_eq!(meta["UpperDir"], d.layout.diff("b").display().to_string());
        assert!(meta.contains_key("WorkDir") && meta.contains_key("MergedDir"));
    }

    #[test]
    fn legacy_mode_mounts_with_the_option_string_and_a_page_bound_depth() {
        let calls = Arc::new(RecordingMounts::default());
        let tmp = tempfile::tempdir().unwrap();
        let opts = OverlayOptions {
            mount_api: crate::MountApi::Legacy,
        };
        let d =
            OverlayDriver::with_calls(&tmp.path().join("o"), opts, calls.clone(), false).unwrap();
        assert!(d.capabilities().max_depth < 500);
        chain(&d, &["a", "b"]);
        d.get("b", &MountOpts::default()).unwrap();
        match &calls.calls()[..] {
            [Call::Legacy {
                data,
                read_only: true,
                ..
            }] => {
                assert!(data.starts_with(&format!("lowerdir=l/{}:l/", d.short_id("b").unwrap())));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn real_driver_mounts_a_read_only_view_and_a_read_write_layer() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root to mount overlayfs");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let d = OverlayDriver::new(&tmp.path().join("overlay"), OverlayOptions::default()).unwrap();
        let status: BTreeMap<_, _> = d.status().into_iter().collect();
        assert_eq!(status["Mount API"], "new (fsopen, fsconfig lowerdir+)");
        assert_eq!(d.capabilities().max_depth, 500);
        chain(&d, &["a"]);
        std::fs::write(d.layout.diff("a").join("f"), b"base").unwrap();
        let view = d.get("a", &MountOpts::default()).unwrap();
        assert_eq!(std::fs::read(view.join("f")).unwrap(), b"base");
        let err = std::fs::write(view.join("g"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::ROFS.raw_os_error()));
        d.put("a").unwrap();
        d.create_read_write("rw", Some("a"), &CreateOpts::default())
            .unwrap();
        let merged = d.get("rw", &MountOpts::default()).unwrap();
        std::fs::write(merged.join("g"), b"new").unwrap();
        std::fs::remove_file(merged.join("f")).unwrap();
        d.put("rw").unwrap();
        assert_eq!(
            std::fs::read(d.layout.diff("rw").join("g")).unwrap(),
            b"new"
        );
        let changes = d.changes("rw", Some("a")).unwrap();
        let listed: Vec<_> = changes
            .iter()
            .map(|c| (String::from_utf8_lossy(&c.path).into_owned(), c.kind))
            .collect();
        assert_eq!(
            listed,
            [
                ("/f".to_string(), graphdriver::ChangeKind::Delete),
                ("/g".to_string(), graphdriver::ChangeKind::Add)
            ]
        );
        assert_eq!(d.diff_size("rw", Some("a")).unwrap(), 3);
        d.remove("rw").unwrap();
        d.remove("a").unwrap();
    }
}
