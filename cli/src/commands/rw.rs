//! The read-write layer commands.
//!
//! Each command is its own process, while the store counts mounts in memory: a mount made by
//! `rw mount` outlives the command, and a later command finds it in `/proc/self/mountinfo` (the
//! overlay driver adopts it when the store opens). So `rw mount` of a mounted layer prints its
//! directory again, and `rw unmount` unmounts whatever a past command mounted.

use std::path::Path;

use graphdriver::{ChangeKind, DriverError};
use layer_store::{RwLayerOpts, Store, StoreError};

use super::layers::print_layer;
use super::{parse_chain, Ctx};
use crate::error::CliError;
use crate::output::{self, ChangeJson, MountJson, RemovedJson, RwJson};
use crate::write_out::write_stream;

/// The merged directory of a read-write layer and whether it is mounted now. Drivers without
/// real mounts (vfs) report their directory and `false`.
fn mount_state(store: &Store, mount_id: &str) -> Result<(Option<String>, bool), CliError> {
    let meta = store
        .driver()
        .metadata(mount_id)
        .map_err(StoreError::from)?;
    let Some(merged) = meta.get("MergedDir").or_else(|| meta.get("Dir")).cloned() else {
        return Ok((None, false));
    };
    if !store.driver().capabilities().mounts {
        return Ok((Some(merged), false));
    }
    let mounts = graphdriver::mountinfo::mounts().map_err(StoreError::from)?;
    let mounted = mounts.iter().any(|m| m.mount_point == Path::new(&merged));
    Ok((Some(merged), mounted))
}

/// `rw create NAME [--parent CHAIN]`: prints nothing (JSON: the read-write layer's object).
pub fn create(ctx: &Ctx, name: &str, parent: Option<&str>) -> Result<(), CliError> {
    let parent = parent.map(parse_chain).transpose()?;
    let store = ctx.open_writable()?;
    let rw = store.create_rw_layer(name, parent.as_ref(), RwLayerOpts::default())?;
    if ctx.json {
        let record = store
            .rw_layers()
            .remove(rw.name())
            .ok_or_else(|| StoreError::MountDoesNotExist(name.to_owned()))?;
        let (path, mounted) = mount_state(&store, rw.mount_id())?;
        output::print_json(&RwJson::new(&record, mounted, path))?;
    }
    Ok(())
}

/// `rw mount NAME`: mounts (or finds mounted) and prints the merged directory.
pub fn mount(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let store = ctx.open_writable()?;
    let rw = store.get_rw_layer(name)?;
    let path = rw.mount()?;
    // The mount must outlive this process: the store is not cleaned up here on purpose.
    let path = path.display().to_string();
    if ctx.json {
        output::print_json(&MountJson {
            name: name.to_owned(),
            path,
        })
    } else {
        output::print_lines([path])
    }
}

/// `rw unmount NAME`.
pub fn unmount(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let store = ctx.open_writable()?;
    let rw = store.get_rw_layer(name)?;
    match rw.unmount() {
        Ok(()) => return Ok(()),
        Err(StoreError::NotMounted(_)) => {}
        Err(err) => return Err(err.into()),
    }
    // Mounted by an earlier command: the driver adopted that mount when the store opened.
    match store.driver().put(rw.mount_id()) {
        Ok(()) => Ok(()),
        // Without real mounts (vfs) there is nothing to undo.
        Err(DriverError::NotMounted { .. }) if !store.driver().capabilities().mounts => Ok(()),
        Err(DriverError::NotMounted { .. }) => Err(StoreError::NotMounted(name.to_owned()).into()),
        Err(err) => Err(StoreError::from(err).into()),
    }
}

/// `rw changes NAME`: `A|C|D PATH` lines, as `docker diff` prints them.
pub fn changes(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let store = ctx.open_existing(name)?;
    let rw = store.get_rw_layer(name)?;
    let mut changes = rw.changes()?;
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let json: Vec<ChangeJson> = changes
        .iter()
        .map(|c| ChangeJson {
            kind: match c.kind {
                ChangeKind::Add => "A",
                ChangeKind::Modify => "C",
                ChangeKind::Delete => "D",
            },
            path: String::from_utf8_lossy(&c.path).into_owned(),
        })
        .collect();
    if ctx.json {
        output::print_json(&json)
    } else {
        output::print_lines(json.iter().map(|c| format!("{} {}", c.kind, c.path)))
    }
}

/// `rw diff NAME [-o FILE]`: the tar of what changed.
pub fn diff(ctx: &Ctx, name: &str, output_path: Option<&Path>) -> Result<(), CliError> {
    let store = ctx.open_existing(name)?;
    let rw = store.get_rw_layer(name)?;
    let mut stream = rw.tar_stream()?;
    write_stream(&mut stream, output_path).map(|_| ())
}

/// `rw commit NAME`: registers the changes as a new layer on the parent; prints its ChainID.
pub fn commit(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let store = ctx.open_writable()?;
    let rw = store.get_rw_layer(name)?;
    let layer = rw.commit()?;
    print_layer(ctx, &store, layer.chain_id())
}

/// `rw rm NAME`: removes the read-write layer (an error while it is mounted). Its parent layer
/// stays (see `rm`).
pub fn rm(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let store = ctx.open_writable()?;
    let rw = store.get_rw_layer(name)?;
    if let (_, true) = mount_state(&store, rw.mount_id())? {
        return Err(StoreError::ActiveMount {
            name: name.to_owned(),
            count: 1,
        }
        .into());
    }
    let _parent_hold = rw.parent().map(|p| store.get(p)).transpose()?;
    let removed = store.release_rw_layer(rw)?;
    if ctx.json {
        let json: Vec<RemovedJson> = removed.iter().map(RemovedJson::from).collect();
        output::print_json(&json)
    } else {
        Ok(())
    }
}

/// `rw ls`: `NAME PARENT mounted|unmounted PATH` lines, or a JSON array.
pub fn ls(ctx: &Ctx) -> Result<(), CliError> {
    let Some(store) = ctx.open_read_only()? else {
        return if ctx.json {
            output::print_json(&Vec::<RwJson>::new())
        } else {
            Ok(())
        };
    };
    let mut json = Vec::new();
    for record in store.rw_layers().values() {
        let (path, mounted) = mount_state(&store, &record.mount_id)?;
        json.push(RwJson::new(record, mounted, path));
    }
    if ctx.json {
        return output::print_json(&json);
    }
    output::print_lines(json.iter().map(|r| {
        format!(
            "{} {} {} {}",
            r.name,
            r.parent.as_deref().unwrap_or("-"),
            if r.mounted { "mounted" } else { "unmounted" },
            r.path.as_deref().unwrap_or("-"),
        )
    }))
}
