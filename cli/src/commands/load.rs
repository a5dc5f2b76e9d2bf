//! `load FILE|DIR`: registers an image's layers in order, each blob read once: its digest and
//! size are checked as it streams into the store, and the DiffID the store computes is checked
//! against the image config. Any failure releases what this load registered, so nothing of a
//! refused image stays (layers that were in the store before the load are left as they were).

use std::collections::HashSet;
use std::path::Path;

use layer_store::{ChainId, Descriptor, Layer, Store};

use super::Ctx;
use crate::error::CliError;
use crate::image::{
    read_image, BlobDigest, HashingReader, Image, ImageError, ImagePlan, ImageSource, PlannedLayer,
};
use crate::output::{self, LayerJson};
use crate::progress::Progress;

/// `load FILE|DIR`.
pub fn load(ctx: &Ctx, image: &Path) -> Result<(), CliError> {
    let image = read_image(image)?;
    let store = ctx.open_writable()?;
    let before: HashSet<ChainId> = store.map().into_keys().collect();
    let mut taken: Vec<Layer> = Vec::new();
    let loaded = image
        .plans
        .iter()
        .try_for_each(|plan| load_image(&store, &image, plan, &mut taken));
    if let Err(cause) = loaded {
        return Err(match roll_back(&store, taken, &before) {
            Ok(()) => cause,
            Err(cleanup) => CliError::RollbackFailed {
                cause: Box::new(cause),
                cleanup: Box::new(cleanup),
            },
        });
    }
    let chain_ids: Vec<&ChainId> = taken.iter().map(Layer::chain_id).collect();
    if ctx.json {
        let json = chain_ids
            .iter()
            .map(|c| store.info(c).map(|info| LayerJson::from(&info)))
            .collect::<Result<Vec<_>, _>>()?;
        output::print_json(&json)
    } else {
        output::print_lines(chain_ids)
    }
}

/// Registers one image's layers bottom first; every layer handle taken is pushed to `taken`
/// (even one that then fails a check) so that a rollback can release it.
fn load_image(
    store: &Store,
    image: &Image,
    plan: &ImagePlan,
    taken: &mut Vec<Layer>,
) -> Result<(), CliError> {
    let mut parent: Option<ChainId> = None;
    for (i, layer) in plan.layers.iter().enumerate() {
        parent = Some(register_layer(
            store,
            image,
            plan,
            i,
            layer,
            parent.as_ref(),
            taken,
        )?);
    }
    Ok(())
}

/// Registers one layer blob and checks it: blob digest and size, then DiffID.
fn register_layer(
    store: &Store,
    image: &Image,
    plan: &ImagePlan,
    index: usize,
    layer: &PlannedLayer,
    parent: Option<&ChainId>,
    taken: &mut Vec<Layer>,
) -> Result<ChainId, CliError> {
    let source = &*image.source;
    let count = plan.layers.len();
    let what = format!("layer {} of {count}", index + 1);
    let (blob, blob_size) = source
        .open(&layer.path)?
        .ok_or_else(|| ImageError::Missing {
            image: source.name().to_owned(),
            what: what.clone(),
            path: layer.path.clone(),
        })?;
    let mut hashing = HashingReader::new(blob);
    let progress = Progress::new(
        format!("{} ({}): {what}", plan.name, image.format),
        Some(blob_size),
        false,
    );
    let descriptor = layer.descriptor.as_ref().map(|d| Descriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        urls: d.urls.clone(),
        annotations: d.annotations.clone(),
    });
    let registered =
        store.register_with_descriptor(progress.wrap_read(&mut hashing), parent, descriptor);
    progress.finish();
    // The blob's digest is checked whether or not the store took it: a tampered blob usually
    // fails as a malformed tar too, and the digest says what really happened.
    let (digest, size) = hashing
        .finish()
        .map_err(|e| ImageError::io(format!("{}: {}", source.name(), layer.path), e))?;
    let handle = match registered {
        Ok(handle) => {
            taken.push(handle);
            taken.last()
        }
        Err(err) => {
            check_blob(source, &what, layer, &digest, size)?;
            return Err(CliError::LoadLayer {
                image: source.name().to_owned(),
                index: index + 1,
                count,
                path: layer.path.clone(),
                source: Box::new(err.into()),
            });
        }
    };
    check_blob(source, &what, layer, &digest, size)?;
    let Some(handle) = handle else {
        return Err(CliError::Usage(
            "internal error: no layer handle".to_owned(),
        ));
    };
    if handle.diff_id().as_str() != layer.diff_id.as_str() {
        return Err(ImageError::DiffIdMismatch {
            image: source.name().to_owned(),
            index: index + 1,
            count,
            path: layer.path.clone(),
            expected: layer.diff_id.to_string(),
            actual: handle.diff_id().to_string(),
        }
        .into());
    }
    Ok(handle.chain_id().clone())
}

/// Checks a blob's digest and size against what the image says of it.
fn check_blob(
    source: &dyn ImageSource,
    what: &str,
    layer: &PlannedLayer,
    digest: &BlobDigest,
    size: u64,
) -> Result<(), ImageError> {
    let mismatch = |reason: String| ImageError::BlobMismatch {
        image: source.name().to_owned(),
        what: what.to_owned(),
        path: layer.path.clone(),
        reason,
    };
    if let Some(expected) = &layer.digest {
        if expected != digest {
            return Err(mismatch(format!(
                "its digest is {digest}, expected {expected}"
            )));
        }
    }
    if let Some(expected) = layer.size {
        if expected != size {
            return Err(mismatch(format!(
                "it is {size} bytes, the descriptor says {expected}"
            )));
        }
    }
    Ok(())
}

/// Releases, top first, every layer this load took that was not in the store before it.
/// Layers that were there before keep existing: their handle is simply dropped.
fn roll_back(store: &Store, taken: Vec<Layer>, before: &HashSet<ChainId>) -> Result<(), CliError> {
    let mut first_err = None;
    for layer in taken.into_iter().rev() {
        if before.contains(layer.chain_id()) {
            continue;
        }
        if let Err(err) = store.release(layer) {
            first_err.get_or_insert(CliError::from(err));
        }
    }
    first_err.map_or(Ok(()), Err)
}
