//! The layer commands: register, ls, inspect, export, tar-split, rm.

use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Read, Write};
use std::path::{Path, PathBuf};

use layer_store::{ChainId, LayerInfo, Store, StoreError};
use tar_split::binary::BinaryReader;
use tar_split::json::JsonWriter;
use tar_split::{Entry, EntrySink as _};

use super::{parse_chain, Ctx};
use crate::error::CliError;
use crate::output::{self, InspectJson, LayerJson, RemovedJson, TarSplitJson};
use crate::progress::Progress;
use crate::write_out::write_stream;

/// Prints a registered layer: its ChainID, or the register object in JSON.
pub fn print_layer(ctx: &Ctx, store: &Store, chain_id: &ChainId) -> Result<(), CliError> {
    let info = store.info(chain_id)?;
    if ctx.json {
        output::print_json(&LayerJson::from(&info))
    } else {
        output::print_lines([chain_id])
    }
}

/// `register [--parent CHAIN] [FILE|-]`.
pub fn register(ctx: &Ctx, parent: Option<&str>, file: Option<PathBuf>) -> Result<(), CliError> {
    let parent = parent.map(parse_chain).transpose()?;
    let (input, total, name): (Box<dyn Read + Send>, Option<u64>, String) = match file {
        Some(path) if path.as_os_str() != "-" => {
            let open_err = |source| CliError::File {
                what: "reading",
                path: path.clone(),
                source,
            };
            let file = File::open(&path).map_err(open_err)?;
            let len = file.metadata().map_err(open_err)?.len();
            (Box::new(file), Some(len), path.display().to_string())
        }
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::Usage(
                    "register: give a layer tar FILE, or pipe one to standard input".to_owned(),
                ));
            }
            (
                Box::new(std::io::stdin()),
                None,
                "standard input".to_owned(),
            )
        }
    };
    let store = ctx.open_writable()?;
    let progress = Progress::new(format!("registering {name}"), total, true);
    let layer = store.register(progress.wrap_read(input), parent.as_ref());
    progress.finish();
    let layer = layer?;
    print_layer(ctx, &store, layer.chain_id())
}

/// The store's layers, bottom first (by depth, then ChainID).
fn sorted_layers(store: &Store) -> Vec<LayerInfo> {
    let mut layers: Vec<LayerInfo> = store.map().into_values().collect();
    layers.sort_by(|a, b| (a.depth, &a.chain_id).cmp(&(b.depth, &b.chain_id)));
    layers
}

/// `ls`: one layer a line (`CHAIN PARENT DIFF_SIZE SIZE`, `-` for no parent), or a JSON array.
pub fn ls(ctx: &Ctx) -> Result<(), CliError> {
    let layers = match ctx.open_read_only()? {
        Some(store) => sorted_layers(&store),
        None => Vec::new(),
    };
    if ctx.json {
        let json: Vec<LayerJson> = layers.iter().map(LayerJson::from).collect();
        return output::print_json(&json);
    }
    output::print_lines(layers.iter().map(|l| {
        let parent = l
            .parent
            .as_ref()
            .map_or("-".to_owned(), ToString::to_string);
        format!("{} {} {} {}", l.chain_id, parent, l.diff_size, l.size)
    }))
}

/// `inspect CHAIN`: one JSON object, whether or not `--json` is given.
pub fn inspect(ctx: &Ctx, chain: &str) -> Result<(), CliError> {
    let chain_id = parse_chain(chain)?;
    let store = ctx.open_existing(chain)?;
    let info = store.info(&chain_id)?;
    let record = store
        .metadata_store()
        .layer(&chain_id)
        .map_err(StoreError::from)?
        .ok_or_else(|| StoreError::LayerDoesNotExist(chain_id.clone()))?;
    let driver_metadata = store
        .driver()
        .metadata(&info.cache_id)
        .map_err(StoreError::from)?;
    let json = InspectJson {
        layer: LayerJson::from(&info),
        depth: info.depth,
        children: info.children,
        descriptor: info.descriptor.clone(),
        created_unix_nanos: record.created_unix_nanos,
        tar_split: TarSplitJson {
            chunks: record.tar_split.chunks,
            stored_bytes: record.tar_split.stored_bytes,
            raw_bytes: record.tar_split.raw_bytes,
        },
        driver: store.driver_name().to_owned(),
        driver_metadata,
    };
    output::print_json(&json)
}

/// `export CHAIN [--from PARENT] [-o FILE]`: the verified tar, byte for byte.
pub fn export(
    ctx: &Ctx,
    chain: &str,
    from: Option<&str>,
    output_path: Option<&Path>,
) -> Result<(), CliError> {
    let chain_id = parse_chain(chain)?;
    let from = from.map(parse_chain).transpose()?;
    let store = ctx.open_existing(chain)?;
    let layer = store.get(&chain_id)?;
    let stream = match &from {
        None => layer.tar_stream()?,
        Some(ancestor) => layer.tar_stream_from(Some(ancestor))?,
    };
    let progress = Progress::new(format!("exporting {chain_id}"), None, true);
    let mut reader = progress.wrap_read(stream);
    let written = write_stream(&mut reader, output_path);
    progress.finish();
    written.map(|_| ())
}

/// `tar-split CHAIN`: the stored tar-split data as Go tar-split JSON lines.
pub fn tar_split(ctx: &Ctx, chain: &str) -> Result<(), CliError> {
    let chain_id = parse_chain(chain)?;
    let store = ctx.open_existing(chain)?;
    store.info(&chain_id)?;
    let stored = store
        .metadata_store()
        .tar_split(&chain_id)
        .map_err(StoreError::from)?;
    let out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut json = JsonWriter::new(out);
    let write_err = |e| CliError::io("writing to standard output", e);
    for entry in BinaryReader::new(stored) {
        let entry = entry.map_err(|e| StoreError::Corrupt {
            chain_id: chain_id.clone(),
            reason: format!("its stored tar-split data does not read back: {e}"),
        })?;
        match entry {
            Entry::Segment(raw) => json.segment(&raw).map_err(write_err)?,
            Entry::File(f) => json.file(&f.name, f.size, f.crc).map_err(write_err)?,
        }
    }
    json.finish().map_err(write_err)?.flush().map_err(write_err)
}

/// `rm CHAIN`: removes the layer, and only it: an error if layers or read-write layers stand
/// on it. (The store's release also deletes parents nothing holds; the command holds the parent
/// so that each layer a user registered stays until removed by name.)
pub fn rm(ctx: &Ctx, chain: &str) -> Result<(), CliError> {
    let chain_id = parse_chain(chain)?;
    let store = ctx.open_writable()?;
    let info = store.info(&chain_id)?;
    if info.children > 0 {
        return Err(StoreError::LayerHasChildren {
            chain_id,
            children: info.children,
        }
        .into());
    }
    let _parent_hold = info.parent.as_ref().map(|p| store.get(p)).transpose()?;
    let layer = store.get(&chain_id)?;
    let removed = store.release(layer)?;
    if ctx.json {
        let json: Vec<RemovedJson> = removed.iter().map(RemovedJson::from).collect();
        output::print_json(&json)
    } else {
        output::print_lines(removed.iter().map(|m| &m.chain_id))
    }
}
