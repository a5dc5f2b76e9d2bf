//! Carrying out a repair plan, step by step; a failed step is reported and the others still run.

use graphdriver::Driver;
use metadata::{ChainId, LayerState, MetadataStore};

use super::plan::{Action, Op, Plan};

/// What became of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The step.
    pub action: Action,
    /// `Ok` when it was done; else why not.
    pub result: Result<(), String>,
}

/// Runs every step of `plan` in order.
pub(crate) fn execute(meta: &MetadataStore, driver: &dyn Driver, plan: &Plan) -> Vec<Outcome> {
    plan.actions
        .iter()
        .map(|action| Outcome {
            action: action.clone(),
            result: run(meta, driver, &action.op),
        })
        .collect()
}

fn run(meta: &MetadataStore, driver: &dyn Driver, op: &Op) -> Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    match op {
        Op::DriverFix {
            id,
            lower_ids,
            finding,
        } => {
            let lower: Vec<&str> = lower_ids.iter().map(String::as_str).collect();
            match driver.repair_layer(id, &lower, finding) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("the {} driver cannot fix this", driver.name())),
                Err(e) => Err(s(&e)),
            }
        }
        Op::RollBack {
            cache_id,
            remove_dir,
        } => {
            if *remove_dir {
                driver.remove(cache_id).map_err(|e| s(&e))?;
            }
            meta.clear_pending(cache_id).map_err(|e| s(&e))
        }
        Op::FinishRemoval { key, cache_id } => {
            driver.remove(cache_id).map_err(|e| s(&e))?;
            meta.remove_layer_key(key).map_err(|e| s(&e))
        }
        Op::RecreateInit {
            init_id,
            parent_cache,
        } => driver
            .create_read_write(init_id, parent_cache.as_deref(), &Default::default())
            .map_err(|e| s(&e)),
        Op::RemoveMount {
            name,
            mount_id,
            init_id,
        } => {
            for id in [mount_id, init_id].into_iter().flatten() {
                driver.remove(id).map_err(|e| s(&e))?;
            }
            meta.remove_mount(name).map_err(|e| s(&e))
        }
        Op::RemoveLayer { key, cache_id } => {
            // As a release does: mark it, remove the directory, then the record; a crash in
            // between leaves a layer being removed, which the next open or check finishes.
            if let Ok(id) = ChainId::parse(key) {
                // An undecodable record cannot be re-written with a new state; it goes directly.
                let _ = meta.set_state(&id, LayerState::Removing);
            }
            if let Some(cache_id) = cache_id {
                driver.remove(cache_id).map_err(|e| s(&e))?;
            }
            meta.remove_layer_key(key).map_err(|e| s(&e))
        }
        Op::DropMountRecord { name } => meta.remove_mount(name).map_err(|e| s(&e)),
        Op::RemoveOrphanTarSplit { key } => meta.remove_orphan_tar_split(key).map_err(|e| s(&e)),
        Op::Unmount { path } => graphdriver::check::unmount(path).map_err(|e| s(&e)),
        Op::RemoveDir { id } => driver.remove(id).map_err(|e| s(&e)),
        Op::RemoveTemp { path } => {
            let kind =
                std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if kind.is_dir() {
                graphdriver::fsutil::remove_all(path).map_err(|e| s(&e))
            } else {
                std::fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))
            }
        }
    }
}
