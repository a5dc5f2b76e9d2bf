//! The layer graph as the metadata records it, and the checks that need only the records:
//! ChainIDs, parents, cycles, depth, shared cache-IDs, interrupted removals, read-write layers'
//! parents.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use metadata::{ChainId, LayerRecord, LayerState, MountRecord};

use super::finding::{codes, Finding, Hint};
use crate::chain_id_of;

/// Every record, decoded where possible.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// Decodable layer records, any state, by ChainID.
    pub layers: BTreeMap<ChainId, LayerRecord>,
    /// Layer records that do not decode: the key as stored and why.
    pub undecodable: Vec<(String, String)>,
    /// Read-write layers, by name.
    pub mounts: BTreeMap<String, MountRecord>,
}

/// How a walk down a layer's parents ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChainEnd {
    /// At a base layer: the chain is whole.
    Base,
    /// At a parent that has no record.
    Missing(ChainId),
    /// The walk came back to a layer it had seen.
    Cycle,
}

impl Graph {
    pub(crate) fn new(
        raw: Vec<(String, Result<LayerRecord, String>)>,
        mounts: Vec<MountRecord>,
    ) -> Graph {
        let mut graph = Graph::default();
        for (key, record) in raw {
            match record {
                Ok(record) => {
                    graph.layers.insert(record.chain_id.clone(), record);
                }
                Err(reason) => graph.undecodable.push((key, reason)),
            }
        }
        graph.mounts = mounts.into_iter().map(|m| (m.name.clone(), m)).collect();
        graph
    }

    /// The layers below `id`, nearest first, and how the walk ended.
    pub(crate) fn ancestors(&self, id: &ChainId) -> (Vec<&LayerRecord>, ChainEnd) {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([id]);
        let mut cur = self.layers.get(id).and_then(|r| r.parent.as_ref());
        while let Some(parent) = cur {
            if !seen.insert(parent) {
                return (out, ChainEnd::Cycle);
            }
            let Some(record) = self.layers.get(parent) else {
                return (out, ChainEnd::Missing(parent.clone()));
            };
            out.push(record);
            cur = record.parent.as_ref();
        }
        (out, ChainEnd::Base)
    }

    /// The driver IDs below the layer `id`, nearest first, as far as the records go.
    pub(crate) fn lower_ids(&self, id: &ChainId) -> Vec<String> {
        self.ancestors(id)
            .0
            .into_iter()
            .map(|r| r.cache_id.clone())
            .collect()
    }

    /// The driver IDs below a read-write layer's writable directory: its init layer (if any),
    /// then its parent's chain.
    pub(crate) fn mount_lower_ids(&self, mount: &MountRecord) -> Vec<String> {
        let mut ids: Vec<String> = mount.init_id.iter().cloned().collect();
        ids.extend(self.parent_chain_ids(mount.parent.as_ref()));
        ids
    }

    /// The driver IDs of `parent` and the layers below it, nearest first.
    pub(crate) fn parent_chain_ids(&self, parent: Option<&ChainId>) -> Vec<String> {
        let Some(parent) = parent else {
            return Vec::new();
        };
        let Some(record) = self.layers.get(parent) else {
            return Vec::new();
        };
        let mut ids = vec![record.cache_id.clone()];
        ids.extend(self.lower_ids(parent));
        ids
    }

    /// Depth of `id` (1 for a base layer), or `None` when its chain is broken or loops.
    #[cfg(test)]
    pub(crate) fn depth(&self, id: &ChainId) -> Option<usize> {
        match self.ancestors(id) {
            (below, ChainEnd::Base) => Some(below.len() + 1),
            _ => None,
        }
    }

    /// Layers whose parent is `id` (its key as stored, so undecodable records count too).
    pub(crate) fn children_of(&self, key: &str) -> Vec<ChainId> {
        self.layers
            .values()
            .filter(|r| r.parent.as_ref().is_some_and(|p| p.as_str() == key))
            .map(|r| r.chain_id.clone())
            .collect()
    }

    /// Read-write layers standing directly on `key`.
    pub(crate) fn mounts_on(&self, key: &str) -> Vec<String> {
        self.mounts
            .values()
            .filter(|m| m.parent.as_ref().is_some_and(|p| p.as_str() == key))
            .map(|m| m.name.clone())
            .collect()
    }

    /// Everything standing on `key`, directly or not: layers and read-write layers.
    pub(crate) fn descendants(&self, key: &str) -> (BTreeSet<ChainId>, BTreeSet<String>) {
        let mut layers = BTreeSet::new();
        let mut mounts = BTreeSet::new();
        let mut todo = vec![key.to_owned()];
        while let Some(k) = todo.pop() {
            mounts.extend(self.mounts_on(&k));
            for child in self.children_of(&k) {
                if layers.insert(child.clone()) {
                    todo.push(child.as_str().to_owned());
                }
            }
        }
        (layers, mounts)
    }
}

/// The checks over the records alone.
pub(crate) fn check_records(graph: &Graph, max_depth: usize) -> Vec<Finding> {
    let mut out = Vec::new();
    for (key, reason) in &graph.undecodable {
        out.push(
            Finding::new(
                codes::RECORD_UNDECODABLE,
                key,
                format!("the layer record does not decode: {reason}"),
            )
            .fix(Hint::Damaged { key: key.clone() }),
        );
    }
    let mut in_cycle: BTreeSet<ChainId> = BTreeSet::new();
    for (id, record) in &graph.layers {
        let expected = chain_id_of(record.parent.as_ref(), &record.diff_id);
        if &expected != id {
            out.push(Finding::new(
                codes::CHAIN_ID_MISMATCH,
                id.as_str(),
                format!(
                    "the ChainID computed from parent {} and DiffID {} is {expected}",
                    record.parent.as_ref().map_or("(none)", |p| p.as_str()),
                    record.diff_id
                ),
            ));
        }
        if record.state == LayerState::Removing {
            out.push(
                Finding::new(
                    codes::LAYER_BEING_REMOVED,
                    id.as_str(),
                    format!(
                        "the removal of the layer (driver directory {}) was interrupted",
                        record.cache_id
                    ),
                )
                .fix(Hint::FinishRemoval {
                    key: id.to_string(),
                }),
            );
        }
        let (below, end) = graph.ancestors(id);
        match end {
            ChainEnd::Base => {
                let depth = below.len() + 1;
                if depth > max_depth {
                    out.push(Finding::new(
                        codes::DEPTH_EXCEEDED,
                        id.as_str(),
                        format!(
                            "the layer stands at depth {depth}, beyond the maximum of {max_depth}"
                        ),
                    ));
                }
            }
            ChainEnd::Missing(parent) => {
                if below.is_empty() {
                    out.push(
                        Finding::new(
                            codes::PARENT_MISSING,
                            id.as_str(),
                            format!("its parent {parent} has no record"),
                        )
                        .fix(Hint::Damaged {
                            key: id.to_string(),
                        }),
                    );
                }
            }
            ChainEnd::Cycle => {
                if in_cycle.insert(id.clone()) {
                    out.push(
                        Finding::new(
                            codes::PARENT_CYCLE,
                            id.as_str(),
                            "the layer is its own ancestor: following its parents comes back to a \
                         layer already seen",
                        )
                        .fix(Hint::Damaged {
                            key: id.to_string(),
                        }),
                    );
                }
            }
        }
    }
    out.extend(shared_cache_ids(graph));
    for mount in graph.mounts.values() {
        if let Some(parent) = &mount.parent {
            if !graph.layers.contains_key(parent) {
                out.push(
                    Finding::new(
                        codes::MOUNT_PARENT_MISSING,
                        &mount.name,
                        format!(
                            "the read-write layer stands on layer {parent}, which has no record"
                        ),
                    )
                    .fix(Hint::DamagedMount {
                        name: mount.name.clone(),
                    }),
                );
            }
        }
    }
    out
}

/// Driver IDs named by more than one layer or read-write layer.
fn shared_cache_ids(graph: &Graph) -> Vec<Finding> {
    let mut owners: HashMap<&str, Vec<String>> = HashMap::new();
    for record in graph.layers.values() {
        owners
            .entry(&record.cache_id)
            .or_default()
            .push(format!("layer {}", record.chain_id));
    }
    for mount in graph.mounts.values() {
        owners
            .entry(&mount.mount_id)
            .or_default()
            .push(format!("read-write layer {:?}", mount.name));
        if let Some(init) = &mount.init_id {
            owners
                .entry(init)
                .or_default()
                .push(format!("the init layer of {:?}", mount.name));
        }
    }
    let mut shared: Vec<_> = owners.into_iter().filter(|(_, o)| o.len() > 1).collect();
    shared.sort();
    shared
        .into_iter()
        .map(|(id, o)| {
            Finding::new(
                codes::CACHE_ID_SHARED,
                id,
                format!("one driver directory is named by {}", o.join(" and ")),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use metadata::{DiffId, TarSplitInfo};

    fn diff(n: u8) -> DiffId {
        DiffId::parse(&format!("sha256:{}", hex::encode([n; 32]))).unwrap()
    }

    fn record(parent: Option<&ChainId>, n: u8) -> LayerRecord {
        let diff_id = diff(n);
        LayerRecord {
            chain_id: chain_id_of(parent, &diff_id),
            diff_id,
            parent: parent.cloned(),
            size: 0,
            cache_id: format!("cache{n}"),
            descriptor: None,
            created_unix_nanos: 0,
            state: LayerState::Committed,
            tar_split: TarSplitInfo::empty(),
        }
    }

    fn graph(records: Vec<LayerRecord>, mounts: Vec<MountRecord>) -> Graph {
        Graph::new(
            records
                .into_iter()
                .map(|r| (r.chain_id.to_string(), Ok(r)))
                .collect(),
            mounts,
        )
    }

    fn codes_of(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_whole_chain_is_clean() {
        let a = record(None, 1);
        let b = record(Some(&a.chain_id), 2);
        let c = record(Some(&b.chain_id), 3);
        let g = graph(vec![a.clone(), b.clone(), c.clone()], vec![]);
        assert!(check_records(&g, 125).is_empty());
        assert_eq!(g.depth(&c.chain_id), Some(3));
        assert_eq!(g.lower_ids(&c.chain_id), vec!["cache2", "cache1"]);
        let (layers, _) = g.descendants(a.chain_id.as_str());
        assert_eq!(layers.len(), 2);
    }

    #[test]
    fn finds_each_record_problem() {
        let a = record(None, 1);
        let b = record(Some(&a.chain_id), 2);
        let c = record(Some(&b.chain_id), 3);
        // Missing parent: drop `a`.
        let g = graph(vec![b.clone(), c.clone()], vec![]);
        assert_eq!(
            codes_of(&check_records(&g, 125)),
            vec![codes::PARENT_MISSING]
        );
        // Depth.
        let g = graph(vec![a.clone(), b.clone(), c.clone()], vec![]);
        assert_eq!(codes_of(&check_records(&g, 2)), vec![codes::DEPTH_EXCEEDED]);
        // Wrong ChainID and a shared cache-ID.
        let mut bad = b.clone();
        bad.diff_id = diff(9);
        bad.cache_id = a.cache_id.clone();
        let g = graph(vec![a.clone(), bad], vec![]);
        let mut found = codes_of(&check_records(&g, 125));
        found.sort();
        assert_eq!(
            found,
            vec![codes::CACHE_ID_SHARED, codes::CHAIN_ID_MISMATCH]
        );
    }

    #[test]
    fn a_cycle_is_reported_once_per_member_and_walks_end() {
        let a = record(None, 1);
        let mut b = record(Some(&a.chain_id), 2);
        let mut a2 = a.clone();
        a2.parent = Some(b.chain_id.clone());
        b.parent = Some(a2.chain_id.clone());
        let g = graph(vec![a2, b], vec![]);
        let found = check_records(&g, 125);
        assert_eq!(
            found
                .iter()
                .filter(|f| f.code == codes::PARENT_CYCLE)
                .count(),
            2
        );
        assert_eq!(g.depth(&a.chain_id), None);
    }

    #[test]
    fn mounts_count_as_descendants_and_need_their_parent() {
        let a = record(None, 1);
        let m = MountRecord {
            name: "ctr".into(),
            mount_id: "m".into(),
            init_id: Some("m-init".into()),
            parent: Some(a.chain_id.clone()),
            created_unix_nanos: 0,
        };
        let g = graph(vec![a.clone()], vec![m.clone()]);
        assert!(check_records(&g, 125).is_empty());
        assert_eq!(g.mount_lower_ids(&m), vec!["m-init", "cache1"]);
        let (_, mounts) = g.descendants(a.chain_id.as_str());
        assert_eq!(mounts.into_iter().collect::<Vec<_>>(), vec!["ctr"]);
        let g = graph(vec![], vec![m]);
        assert_eq!(
            codes_of(&check_records(&g, 125)),
            vec![codes::MOUNT_PARENT_MISSING]
        );
    }
}
