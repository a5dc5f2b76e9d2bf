//! The checks of what lies on disk beside the records: driver directories (missing, incomplete,
//! orphaned, staged leftovers), the driver's own layout files, interrupted creations, leftovers
//! in `tmp/`, and mounts under the store's root that nothing accounts for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use graphdriver::{Driver, DriverFinding, LayerListing};
use metadata::{LayerState, PendingRecord};

use super::finding::{codes, Finding, Hint};
use super::graph::Graph;

/// Who names a driver directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Layer,
    Mount,
    Init,
    Pending,
}

/// What the layout checks need to know about the moment they run.
pub(crate) struct LayoutInput<'a> {
    pub root: &'a Path,
    pub driver: &'a dyn Driver,
    pub graph: &'a Graph,
    /// The driver's directories, listed before the records were read (so that a live writer's
    /// new layer is never taken for an orphan).
    pub listing: &'a [LayerListing],
    pub pending: &'a [PendingRecord],
    /// A writer is running beside this check: its pending creations and spools are live.
    pub live_writer: bool,
}

/// Driver directories, layout files, pending creations, temp leftovers. Notes go to `notes`.
pub(crate) fn check_layout(input: &LayoutInput<'_>, notes: &mut Vec<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let graph = input.graph;
    let listed: BTreeMap<&str, bool> = input
        .listing
        .iter()
        .map(|l| (l.id.as_str(), l.complete))
        .collect();
    let mut owners: BTreeMap<String, Owner> = BTreeMap::new();

    for record in graph.layers.values() {
        owners.insert(record.cache_id.clone(), Owner::Layer);
        if record.state != LayerState::Committed {
            continue;
        }
        let id = record.chain_id.as_str();
        let damaged = || Hint::Damaged { key: id.to_owned() };
        match listed.get(record.cache_id.as_str()) {
            None => out.push(
                Finding::new(
                    codes::LAYER_DIR_MISSING,
                    id,
                    format!("its driver directory {} is missing", record.cache_id),
                )
                .fix(damaged()),
            ),
            Some(false) => out.push(
                Finding::new(
                    codes::LAYER_DIR_INCOMPLETE,
                    id,
                    format!(
                        "its driver directory {} is marked incomplete: its files may not all \
                         have reached the disk",
                        record.cache_id
                    ),
                )
                .fix(damaged()),
            ),
            Some(true) => {
                let lower = graph.lower_ids(&record.chain_id);
                out.extend(driver_findings(
                    input.driver,
                    id,
                    &record.cache_id,
                    lower,
                    damaged(),
                ));
            }
        }
    }

    for mount in graph.mounts.values() {
        owners.insert(mount.mount_id.clone(), Owner::Mount);
        if let Some(init) = &mount.init_id {
            owners.insert(init.clone(), Owner::Init);
        }
        let name = mount.name.as_str();
        if !listed.contains_key(mount.mount_id.as_str()) {
            out.push(
                Finding::new(
                    codes::MOUNT_DIR_MISSING,
                    name,
                    format!(
                        "the read-write layer's driver directory {} is missing",
                        mount.mount_id
                    ),
                )
                .fix(Hint::DropMount {
                    name: name.to_owned(),
                }),
            );
            continue;
        }
        if let Some(init) = &mount.init_id {
            if !listed.contains_key(init.as_str()) {
                let finding = Finding::new(
                    codes::INIT_DIR_MISSING,
                    name,
                    format!("the read-write layer's init layer directory {init} is missing"),
                );
                // Recreating it needs the parent's directory to stand on.
                let parent_ok = mount
                    .parent
                    .as_ref()
                    .is_none_or(|p| graph.layers.contains_key(p));
                out.push(if parent_ok {
                    finding.fix(Hint::RecreateInit {
                        name: name.to_owned(),
                    })
                } else {
                    finding
                });
                continue;
            }
            let lower = graph.parent_chain_ids(mount.parent.as_ref());
            let damage = Hint::DamagedMount {
                name: name.to_owned(),
            };
            out.extend(driver_findings(input.driver, name, init, lower, damage));
        }
        let lower = graph.mount_lower_ids(mount);
        let damage = Hint::DamagedMount {
            name: name.to_owned(),
        };
        out.extend(driver_findings(
            input.driver,
            name,
            &mount.mount_id,
            lower,
            damage,
        ));
    }

    for p in input.pending {
        if input.live_writer && p.pid != 0 && process_alive(p.pid) {
            notes.push(format!(
                "driver directory {} is being created by running process {}",
                p.cache_id, p.pid
            ));
        } else {
            let by = if p.pid == 0 {
                "an unknown process (its pending record does not decode)".to_owned()
            } else {
                format!("process {}", p.pid)
            };
            out.push(
                Finding::new(
                    codes::LAYER_BEING_CREATED,
                    &p.cache_id,
                    format!(
                        "the creation of a layer in driver directory {} by {by} was interrupted",
                        p.cache_id
                    ),
                )
                .fix(Hint::RollBack {
                    cache_id: p.cache_id.clone(),
                }),
            );
        }
        owners.entry(p.cache_id.clone()).or_insert(Owner::Pending);
    }

    for listing in input.listing {
        if owners.contains_key(&listing.id) {
            continue;
        }
        let (code, what) = if listing.complete {
            (
                codes::ORPHAN_DIR,
                "a complete driver directory that no record names",
            )
        } else {
            (
                codes::STAGING_LEFTOVER,
                "an incomplete driver directory that no record or creation names",
            )
        };
        out.push(Finding::new(code, &listing.id, what).fix(Hint::RemoveDir {
            id: listing.id.clone(),
        }));
    }

    out.extend(temp_leftovers(input.root, input.live_writer, notes));
    out
}

/// The driver's own findings for one directory, as findings about `object`.
/// What the driver cannot fix is damage to what the directory holds: `damage` says what a
/// repair does about it (remove the layer, or the read-write layer under `--force`).
fn driver_findings(
    driver: &dyn Driver,
    object: &str,
    id: &str,
    lower_ids: Vec<String>,
    damage: Hint,
) -> Vec<Finding> {
    let lower: Vec<&str> = lower_ids.iter().map(String::as_str).collect();
    driver
        .check_layer(id, &lower)
        .into_iter()
        .map(|f: DriverFinding| {
            let finding = Finding::new(
                f.code,
                object,
                format!("{} ({})", f.message, f.path.display()),
            );
            if f.repairable {
                finding.fix(Hint::DriverFix {
                    id: id.to_owned(),
                    lower_ids: lower_ids.clone(),
                    finding: f,
                })
            } else {
                finding.fix(damage.clone())
            }
        })
        .collect()
}

/// Entries of `<root>/tmp`: spools of transactions a crash interrupted (a live writer's are
/// notes, not findings).
fn temp_leftovers(root: &Path, live_writer: bool, notes: &mut Vec<String>) -> Vec<Finding> {
    let tmp = root.join(metadata::TMP_DIR);
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    if live_writer {
        if !paths.is_empty() {
            notes.push(format!(
                "{} entries in {} may belong to the running writer",
                paths.len(),
                tmp.display()
            ));
        }
        return Vec::new();
    }
    paths
        .into_iter()
        .map(|path| {
            Finding::new(
                codes::TEMP_LEFTOVER,
                path.display().to_string(),
                "a leftover of an interrupted operation in the store's temp directory",
            )
            .fix(Hint::RemoveTemp { path })
        })
        .collect()
}

/// Mounts under the store's root that no layer or read-write layer accounts for. A mount at or
/// below a known driver directory (a layer's view, a read-write layer's merged directory and
/// what a container mounted inside it) is accounted for.
pub(crate) fn stale_mounts(
    root: &Path,
    driver_home: &Path,
    known_ids: &BTreeSet<String>,
    mounts_seen: &mut usize,
) -> std::io::Result<Vec<Finding>> {
    let root = root.canonicalize()?;
    let home = driver_home
        .canonicalize()
        .unwrap_or_else(|_| driver_home.to_owned());
    let mounts = graphdriver::mountinfo::mounts_under(&root)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = Vec::new();
    for m in mounts {
        let point = &m.mount_point;
        if point == &root || point == &home || !point.starts_with(&root) {
            continue;
        }
        *mounts_seen += 1;
        // The ID is the first component below the home (overlay) or the second (vfs: `dir/<id>`).
        let known = point.strip_prefix(&home).is_ok_and(|rel| {
            rel.components()
                .take(2)
                .filter_map(|c| c.as_os_str().to_str())
                .any(|name| known_ids.contains(name))
        });
        if known {
            continue;
        }
        out.push(
            Finding::new(
                codes::STALE_MOUNT,
                point.display().to_string(),
                format!(
                    "a {} mount under the store's root that no layer or read-write layer \
                     accounts for",
                    m.fs_type
                ),
            )
            .fix(Hint::Unmount {
                path: point.clone(),
            }),
        );
    }
    // Deepest first, so that a repair unmounts what is stacked on top before what is below.
    out.sort_by_key(|f| std::cmp::Reverse(f.object.len()));
    Ok(out)
}

/// Whether process `pid` is running (its `/proc` entry exists).
pub(crate) fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
