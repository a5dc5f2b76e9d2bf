//! `status`: the driver's status and the store's figures.

use std::collections::BTreeMap;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, human_bytes, StatusJson};

/// `status`: `Key: value` lines, or one JSON object.
pub fn status(ctx: &Ctx) -> Result<(), CliError> {
    let root = ctx.root.display().to_string();
    let json = match ctx.open_read_only()? {
        None => StatusJson {
            root,
            exists: false,
            driver: None,
            driver_status: BTreeMap::new(),
            layers: 0,
            rw_layers: 0,
            content_bytes: 0,
            max_depth: layer_store::DEFAULT_MAX_DEPTH,
        },
        Some(store) => {
            let layers = store.map();
            StatusJson {
                root,
                exists: true,
                driver: Some(store.driver_name().to_owned()),
                driver_status: store.driver_status().into_iter().collect(),
                layers: layers.len(),
                rw_layers: store.rw_layers().len(),
                content_bytes: layers.values().map(|l| l.diff_size).sum(),
                max_depth: store.max_depth(),
            }
        }
    };
    if ctx.json {
        return output::print_json(&json);
    }
    let mut lines = vec![format!("Root: {}", json.root)];
    match &json.driver {
        Some(driver) => lines.push(format!("Driver: {driver}")),
        None => lines.push(
            "Driver: none yet (the first write picks overlay where it works, else vfs)".to_owned(),
        ),
    }
    lines.extend(json.driver_status.iter().map(|(k, v)| format!(" {k}: {v}")));
    lines.push(format!("Layers: {}", json.layers));
    lines.push(format!("Read-write layers: {}", json.rw_layers));
    lines.push(format!(
        "Content: {} ({} bytes)",
        human_bytes(json.content_bytes),
        json.content_bytes
    ));
    lines.push(format!("Maximum depth: {}", json.max_depth));
    output::print_lines(lines)
}
