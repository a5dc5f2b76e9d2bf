//! Layer directories: IDs, links and lower chains, creation and the parent relation.

use std::path::{Path, PathBuf};

use graphdriver::{fsutil, validate_id, CreateOpts, Driver, DriverError, Result};

use super::{io_err, OverlayDriver};
use crate::layout;
use crate::startup;
use crate::NAME;

impl OverlayDriver {
    /// Removes `l/` links whose layer is gone: what a removal interrupted between deleting the
    /// layer directory and its link leaves. Best effort: a link that cannot be read is kept.
    pub(super) fn prune_dangling_links(&self) {
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
    pub(super) fn existing(&self, id: &str) -> Result<()> {
        check_id(id)?;
        if self.layout.layer(id).is_dir() {
            Ok(())
        } else {
            Err(DriverError::UnknownLayer { id: id.to_owned() })
        }
    }

    /// The layer's short ID, from its `link` file.
    pub(super) fn short_id(&self, id: &str) -> Result<String> {
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
    pub(super) fn lower_chain(&self, id: &str) -> Result<Vec<String>> {
        let path = self.layout.lower_file(id);
        match std::fs::read_to_string(&path) {
            Ok(text) => layout::parse_lower(&text)
                .ok_or_else(|| damaged(&path, "not a chain of l/<short-id> links")),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(io_err("read", &path)(err)),
        }
    }

    /// The layer ID a short link points to (`l/<short> -> ../<id>/diff`).
    pub(super) fn id_of_short(&self, short: &str) -> Result<String> {
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

    pub(super) fn create_layer(
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
        refuse_mount_label(opts.mount_label.as_deref())?;
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
    pub(super) fn child_of(&self, id: &str, short: &str) -> Result<Option<String>> {
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
    pub(super) fn is_read_write(&self, id: &str) -> bool {
        self.layout.read_write_marker(id).exists()
    }

    /// Whether `parent` is the layer's own parent, so its upper directory alone is its diff.
    fn is_own_parent(&self, id: &str, parent: Option<&str>) -> Result<bool> {
        Ok(self.parent_of(id)?.as_deref() == parent)
    }

    pub(super) fn native_only(&self, id: &str, parent: Option<&str>) -> Result<()> {
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

/// SELinux mount labels are not applied by this driver: refused rather than silently dropped.
pub(super) fn refuse_mount_label(label: Option<&str>) -> Result<()> {
    match label {
        Some(label) => Err(DriverError::NotSupported {
            driver: NAME,
            reason: format!(
                "SELinux mount label {label:?}: the overlay driver does not apply mount labels"
            ),
        }),
        None => Ok(()),
    }
}

/// Checks that `id` can name a layer here: a valid ID (see [`validate_id`]) that is none of the
/// home's own entries (`l`, `empty`, start-up probes) and holds none of the characters the
/// legacy mount option string gives a meaning (`,` `:` `\`), which could otherwise add options.
pub(super) fn check_id(id: &str) -> Result<()> {
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
