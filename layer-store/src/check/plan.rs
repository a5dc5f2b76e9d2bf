//! From findings to a repair plan, in the safe order: first recreate what can be recreated
//! without loss, then remove what is damaged beyond repair (deepest first; what stands on a
//! damaged layer only under `--force`), then clear leftovers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use graphdriver::DriverFinding;
use metadata::ChainId;

use super::finding::{Finding, Hint};
use super::graph::{ChainEnd, Graph};

/// The three steps of a repair, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Recreate without loss: driver layout files, init layers; roll back or finish half-done
    /// creations and removals.
    Recreate,
    /// Remove what is damaged beyond repair, and (under `--force`) what stands on it.
    Remove,
    /// Remove leftovers: stale mounts, orphan and staged directories, temp files.
    Cleanup,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Recreate => "recreate",
            Phase::Remove => "remove",
            Phase::Cleanup => "cleanup",
        })
    }
}

/// What one repair step does, with everything it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    DriverFix {
        id: String,
        lower_ids: Vec<String>,
        finding: DriverFinding,
    },
    RollBack {
        cache_id: String,
        /// Whether the directory goes too (not when a record names it: it may hold a layer).
        remove_dir: bool,
    },
    FinishRemoval {
        key: String,
        cache_id: String,
    },
    RecreateInit {
        init_id: String,
        parent_cache: Option<String>,
    },
    /// `mount_id` and `init_id` are `None` where another record names the directory too.
    RemoveMount {
        name: String,
        mount_id: Option<String>,
        init_id: Option<String>,
    },
    RemoveLayer {
        key: String,
        cache_id: Option<String>,
    },
    Unmount {
        path: PathBuf,
    },
    RemoveDir {
        id: String,
    },
    RemoveTemp {
        path: PathBuf,
    },
    DropMountRecord {
        name: String,
    },
    RemoveOrphanTarSplit {
        key: String,
    },
}

/// One step of a repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The step it belongs to.
    pub phase: Phase,
    /// What it acts on (a ChainID, a read-write layer's name, a driver ID, a path).
    pub object: String,
    /// What it does, in words.
    pub description: String,
    pub(crate) op: Op,
}

/// What a repair will do, in order, and what it will leave alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps, in the order they run.
    pub actions: Vec<Action>,
    /// Findings no step deals with, each with the reason.
    pub left: Vec<(Finding, String)>,
}

/// Builds the plan for `findings` over `graph`. `mounted` holds the names of read-write layers
/// that are mounted now: they are never removed, nor anything below them.
pub(crate) fn build(
    graph: &Graph,
    findings: &[Finding],
    force: bool,
    mounted: &BTreeSet<String>,
) -> Plan {
    let mut plan = Plan::default();
    let mut recreate = Vec::new();
    let mut cleanup_mounts = Vec::new();
    let mut cleanup = Vec::new();
    let mut damaged: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    let mut drop_mounts: BTreeSet<String> = BTreeSet::new();
    let mut damaged_mounts: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();

    let action = |phase, object: &str, description: String, op| Action {
        phase,
        object: object.to_owned(),
        description,
        op,
    };

    for f in findings {
        match &f.hint {
            Hint::None => plan.left.push((
                f.clone(),
                "no safe automatic repair: the operator decides".into(),
            )),
            Hint::DriverFix {
                id,
                lower_ids,
                finding,
            } => recreate.push(action(
                Phase::Recreate,
                &f.object,
                format!("fix {} of driver directory {id}", finding.code),
                Op::DriverFix {
                    id: id.clone(),
                    lower_ids: lower_ids.clone(),
                    finding: finding.clone(),
                },
            )),
            Hint::RollBack { cache_id } => recreate.push(action(
                Phase::Recreate,
                &f.object,
                format!("roll back the interrupted creation in driver directory {cache_id}"),
                Op::RollBack {
                    cache_id: cache_id.clone(),
                    remove_dir: !named_elsewhere(
                        graph,
                        cache_id,
                        &BTreeSet::new(),
                        &BTreeSet::new(),
                    ),
                },
            )),
            Hint::FinishRemoval { key } => {
                let has_children =
                    !graph.children_of(key).is_empty() || !graph.mounts_on(key).is_empty();
                let cache_id = graph
                    .layers
                    .iter()
                    .find(|(id, _)| id.as_str() == key)
                    .map(|(_, r)| r.cache_id.clone());
                let only_this = BTreeSet::from([key.as_str()]);
                let shared = cache_id
                    .as_ref()
                    .is_some_and(|c| named_elsewhere(graph, c, &only_this, &BTreeSet::new()));
                match cache_id {
                    Some(_) if shared => damaged.entry(key.clone()).or_default().push(f),
                    Some(cache_id) if !has_children => recreate.push(action(
                        Phase::Recreate,
                        key,
                        format!("finish removing the layer and its driver directory {cache_id}"),
                        Op::FinishRemoval {
                            key: key.clone(),
                            cache_id,
                        },
                    )),
                    // Layers stand on it: it is damaged, removal with them needs --force.
                    _ => damaged.entry(key.clone()).or_default().push(f),
                }
            }
            Hint::Damaged { key } => damaged.entry(key.clone()).or_default().push(f),
            Hint::DropMount { name } => {
                drop_mounts.insert(name.clone());
            }
            Hint::DamagedMount { name } => damaged_mounts.entry(name.clone()).or_default().push(f),
            Hint::RecreateInit { name } => {
                if let Some(m) = graph.mounts.get(name) {
                    if let Some(init_id) = &m.init_id {
                        let parent_cache = m
                            .parent
                            .as_ref()
                            .and_then(|p| graph.layers.get(p))
                            .map(|r| r.cache_id.clone());
                        recreate.push(action(
                            Phase::Recreate,
                            name,
                            format!("recreate the empty init layer {init_id}"),
                            Op::RecreateInit {
                                init_id: init_id.clone(),
                                parent_cache,
                            },
                        ));
                    }
                }
            }
            Hint::DropMountRecord { name } => recreate.push(action(
                Phase::Recreate,
                name,
                format!("drop the undecodable read-write layer record {name:?}"),
                Op::DropMountRecord { name: name.clone() },
            )),
            Hint::RemoveOrphanTarSplit { key } => cleanup.push(action(
                Phase::Cleanup,
                key,
                "remove tar-split chunks that no layer record owns".to_owned(),
                Op::RemoveOrphanTarSplit { key: key.clone() },
            )),
            Hint::RemoveDir { id } => cleanup.push(action(
                Phase::Cleanup,
                id,
                format!("remove driver directory {id}"),
                Op::RemoveDir { id: id.clone() },
            )),
            Hint::RemoveTemp { path } => cleanup.push(action(
                Phase::Cleanup,
                &f.object,
                format!("remove {}", path.display()),
                Op::RemoveTemp { path: path.clone() },
            )),
            Hint::Unmount { path } => cleanup_mounts.push(action(
                Phase::Cleanup,
                &f.object,
                format!("unmount {}", path.display()),
                Op::Unmount { path: path.clone() },
            )),
        }
    }
    dedup(&mut recreate);
    plan.actions.extend(recreate);

    // Which read-write layers go: those whose directory is gone, and under --force the damaged
    // ones and those standing on damaged layers; never a mounted one.
    let mut candidates: BTreeSet<String> = damaged.keys().cloned().collect();
    if force {
        for key in damaged.keys() {
            let (layers, mounts) = graph.descendants(key);
            candidates.extend(layers.iter().map(|l| l.as_str().to_owned()));
            damaged_mounts.extend(mounts.into_iter().map(|m| (m, Vec::new())));
        }
    }
    let mut remove_mounts: BTreeSet<String> = drop_mounts.clone();
    for name in damaged_mounts.keys() {
        if force && !mounted.contains(name) {
            remove_mounts.insert(name.clone());
        }
    }
    remove_mounts.retain(|m| !mounted.contains(m));
    for (name, fs) in &damaged_mounts {
        if !remove_mounts.contains(name) {
            let why = if mounted.contains(name) {
                "the read-write layer is mounted: it is never removed while mounted".to_owned()
            } else {
                "removing a read-write layer loses its data: --force allows it".to_owned()
            };
            for f in fs {
                plan.left.push(((*f).clone(), why.clone()));
            }
        }
    }

    // Layers go when everything standing on them goes too (cycle members go together).
    let cyclic: BTreeSet<String> = candidates
        .iter()
        .filter(|k| {
            ChainId::parse(k)
                .ok()
                .is_some_and(|id| graph.ancestors(&id).1 == ChainEnd::Cycle)
        })
        .cloned()
        .collect();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = removed.len();
        for key in &candidates {
            if removed.contains(key) {
                continue;
            }
            let children_go = graph.children_of(key).iter().all(|c| {
                removed.contains(c.as_str())
                    || (cyclic.contains(key) && cyclic.contains(c.as_str()))
            });
            let mounts_go = graph
                .mounts_on(key)
                .iter()
                .all(|m| remove_mounts.contains(m));
            if children_go && mounts_go {
                removed.insert(key.clone());
            }
        }
        if removed.len() == before {
            break;
        }
    }
    for (key, fs) in &damaged {
        if removed.contains(key) {
            continue;
        }
        let (layers, mounts) = graph.descendants(key);
        let held: Vec<&String> = mounts.iter().filter(|m| mounted.contains(*m)).collect();
        let why = if !held.is_empty() {
            format!(
                "mounted read-write layer(s) {held:?} stand on it: a mounted layer is never \
                 removed"
            )
        } else {
            format!(
                "{} layer(s) and {} read-write layer(s) stand on it: --force removes them too",
                layers.len(),
                mounts.len()
            )
        };
        for f in fs {
            plan.left.push(((*f).clone(), why.clone()));
        }
    }

    let removed_keys: BTreeSet<&str> = removed.iter().map(String::as_str).collect();
    for name in &remove_mounts {
        if let Some(m) = graph.mounts.get(name) {
            plan.actions.push(action(
                Phase::Remove,
                name,
                format!(
                    "remove read-write layer {name:?} (driver directories {}{})",
                    m.mount_id,
                    m.init_id
                        .as_deref()
                        .map(|i| format!(", {i}"))
                        .unwrap_or_default()
                ),
                Op::RemoveMount {
                    name: name.clone(),
                    mount_id: Some(m.mount_id.clone())
                        .filter(|c| !named_elsewhere(graph, c, &removed_keys, &remove_mounts)),
                    init_id: m
                        .init_id
                        .clone()
                        .filter(|c| !named_elsewhere(graph, c, &removed_keys, &remove_mounts)),
                },
            ));
        }
    }
    // Deepest first: the longest walk down the parents goes first.
    let mut order: Vec<(usize, String)> = removed
        .iter()
        .cloned()
        .map(|k| {
            let height = ChainId::parse(&k)
                .ok()
                .map_or(0, |id| graph.ancestors(&id).0.len());
            (height, k)
        })
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, key) in &order {
        let key = key.clone();
        // A directory another record still names stays: it may hold a layer that verifies.
        let cache_id = graph
            .layers
            .iter()
            .find(|(id, _)| id.as_str() == key)
            .map(|(_, r)| r.cache_id.clone())
            .filter(|c| !named_elsewhere(graph, c, &removed_keys, &remove_mounts));
        let what = if damaged.contains_key(&key) {
            "remove damaged layer"
        } else {
            "remove layer standing on a damaged one"
        };
        plan.actions.push(action(
            Phase::Remove,
            &key,
            match &cache_id {
                Some(c) => format!("{what} (driver directory {c})"),
                None => what.to_owned(),
            },
            Op::RemoveLayer {
                key: key.clone(),
                cache_id,
            },
        ));
    }

    dedup(&mut cleanup_mounts);
    dedup(&mut cleanup);
    plan.actions.extend(cleanup_mounts);
    plan.actions.extend(cleanup);
    plan
}

/// Whether a record other than the layers in `going` and the read-write layers in
/// `mounts_going` names driver directory `cache_id`.
fn named_elsewhere(
    graph: &Graph,
    cache_id: &str,
    going: &BTreeSet<&str>,
    mounts_going: &BTreeSet<String>,
) -> bool {
    graph
        .layers
        .values()
        .any(|r| r.cache_id == cache_id && !going.contains(r.chain_id.as_str()))
        || graph.mounts.values().any(|m| {
            !mounts_going.contains(&m.name)
                && (m.mount_id == cache_id || m.init_id.as_deref() == Some(cache_id))
        })
}

/// Drops repeated steps (one directory found twice), keeping the first.
fn dedup(actions: &mut Vec<Action>) {
    let mut seen = Vec::new();
    actions.retain(|a| {
        if seen.contains(&a.op) {
            false
        } else {
            seen.push(a.op.clone());
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain_id_of;
    use metadata::{DiffId, LayerRecord, LayerState, MountRecord, TarSplitInfo};

    fn record(parent: Option<&LayerRecord>, n: u8) -> LayerRecord {
        let diff_id = DiffId::parse(&format!("sha256:{}", hex::encode([n; 32]))).unwrap();
        let parent = parent.map(|p| p.chain_id.clone());
        LayerRecord {
            chain_id: chain_id_of(parent.as_ref(), &diff_id),
            diff_id,
            parent,
            size: 0,
            cache_id: format!("cache{n}"),
            descriptor: None,
            created_unix_nanos: 0,
            state: LayerState::Committed,
            tar_split: TarSplitInfo::empty(),
        }
    }

    /// base <- mid <- top, and read-write layer `ctr` on top.
    fn store() -> (Graph, Vec<LayerRecord>) {
        let base = record(None, 1);
        let mid = record(Some(&base), 2);
        let top = record(Some(&mid), 3);
        let ctr = MountRecord {
            name: "ctr".into(),
            mount_id: "m".into(),
            init_id: Some("m-init".into()),
            parent: Some(top.chain_id.clone()),
            created_unix_nanos: 0,
        };
        let layers = vec![base, mid, top];
        let raw = layers
            .iter()
            .map(|r| (r.chain_id.to_string(), Ok(r.clone())))
            .collect();
        (Graph::new(raw, vec![ctr]), layers)
    }

    fn damaged(r: &LayerRecord) -> Finding {
        Finding::new("content-mismatch", r.chain_id.as_str(), "bad").fix(Hint::Damaged {
            key: r.chain_id.to_string(),
        })
    }

    fn objects(plan: &Plan) -> Vec<(Phase, String)> {
        plan.actions
            .iter()
            .map(|a| (a.phase, a.object.clone()))
            .collect()
    }

    #[test]
    fn without_force_nothing_under_others_goes() {
        let (g, l) = store();
        let plan = build(&g, &[damaged(&l[1])], false, &BTreeSet::new());
        assert!(plan.actions.is_empty());
        assert_eq!(plan.left.len(), 1);
        assert!(plan.left[0].1.contains("--force"), "{}", plan.left[0].1);
    }

    #[test]
    fn force_removes_above_deepest_first_and_read_write_layers_first() {
        let (g, l) = store();
        let plan = build(&g, &[damaged(&l[1])], true, &BTreeSet::new());
        assert_eq!(
            objects(&plan),
            vec![
                (Phase::Remove, "ctr".to_owned()),
                (Phase::Remove, l[2].chain_id.to_string()),
                (Phase::Remove, l[1].chain_id.to_string()),
            ]
        );
        assert!(plan.left.is_empty());
    }

    #[test]
    fn a_mounted_read_write_layer_blocks_even_force() {
        let (g, l) = store();
        let mounted = BTreeSet::from(["ctr".to_owned()]);
        let plan = build(&g, &[damaged(&l[1])], true, &mounted);
        assert!(plan.actions.iter().all(|a| a.object != "ctr"), "{plan:?}");
        // The layer under the mounted read-write layer stays, and so does the damaged one.
        assert!(plan
            .actions
            .iter()
            .all(|a| a.object != l[1].chain_id.as_str() && a.object != l[2].chain_id.as_str()));
        assert!(
            plan.left.iter().any(|(_, why)| why.contains("mounted")),
            "{plan:?}"
        );
    }

    #[test]
    fn phases_run_in_order() {
        let (g, l) = store();
        let findings = vec![
            Finding::new("orphan-dir", "x", "").fix(Hint::RemoveDir { id: "x".into() }),
            Finding::new("stale-mount", "/m", "").fix(Hint::Unmount { path: "/m".into() }),
            damaged(&l[2]),
            Finding::new("layer-being-created", "p", "").fix(Hint::RollBack {
                cache_id: "p".into(),
            }),
            Finding::new("temp-leftover", "/t", "").fix(Hint::RemoveTemp { path: "/t".into() }),
        ];
        let plan = build(&g, &findings, true, &BTreeSet::new());
        let phases: Vec<Phase> = plan.actions.iter().map(|a| a.phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted);
        let cleanup: Vec<&str> = plan
            .actions
            .iter()
            .filter(|a| a.phase == Phase::Cleanup)
            .map(|a| a.object.as_str())
            .collect();
        assert_eq!(cleanup, vec!["/m", "x", "/t"], "unmounts before removals");
    }

    #[test]
    fn a_shared_directory_is_never_removed_with_a_damaged_record() {
        let (mut g, l) = store();
        let mut copy = l[2].clone();
        copy.chain_id = ChainId::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        g.layers.insert(copy.chain_id.clone(), copy.clone());
        let plan = build(&g, &[damaged(&copy)], false, &BTreeSet::new());
        assert_eq!(plan.actions.len(), 1);
        assert_eq!(
            plan.actions[0].op,
            Op::RemoveLayer {
                key: copy.chain_id.to_string(),
                cache_id: None
            }
        );
    }
}
