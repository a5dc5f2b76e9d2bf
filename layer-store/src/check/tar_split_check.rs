//! A layer's stored tar-split data: present, decompressing, decoding, matching its stored
//! digest, and recording file sizes that add up to the layer's recorded diff size.

use std::io;

use metadata::{ErrorKind as MetaKind, LayerRecord, MetadataStore};
use tar_split::binary::{BinaryError, BinaryReader};
use tar_split::Entry;

use super::finding::{codes, Finding, Hint};

/// Checks one layer's tar-split data; `None` when it is sound.
pub(crate) fn check_tar_split(meta: &MetadataStore, record: &LayerRecord) -> Option<Finding> {
    let id = record.chain_id.as_str();
    let damaged = |code, message: String| {
        Some(Finding::new(code, id, message).fix(Hint::Damaged { key: id.to_owned() }))
    };
    let reader = match meta.tar_split(&record.chain_id) {
        Ok(r) => r,
        Err(e) if e.kind() == MetaKind::NotFound => {
            return damaged(codes::TAR_SPLIT_MISSING, format!("no tar-split data: {e}"))
        }
        Err(e) => {
            return damaged(
                codes::TAR_SPLIT_CORRUPT,
                format!("the tar-split data cannot be read: {e}"),
            )
        }
    };
    let mut file_sizes = 0u64;
    for entry in BinaryReader::new(reader) {
        match entry {
            Ok(Entry::File(f)) => file_sizes = file_sizes.saturating_add(f.size),
            Ok(Entry::Segment(_)) => {}
            Err(BinaryError::Io { source, .. }) => {
                let (code, what) = classify(&source);
                return damaged(code, format!("{what}: {source}"));
            }
            Err(e) => {
                return damaged(
                    codes::TAR_SPLIT_CORRUPT,
                    format!("the tar-split data does not decode: {e}"),
                )
            }
        }
    }
    let recorded = record.tar_split.file_sizes;
    if file_sizes != record.size || (recorded != 0 && recorded != file_sizes) {
        return Some(Finding::new(
            codes::TAR_SPLIT_SIZE_MISMATCH,
            id,
            format!(
                "the tar-split data records {file_sizes} bytes of files; the layer's diff size \
                 is {} and the sum stored with the tar-split is {recorded}",
                record.size
            ),
        ));
    }
    None
}

/// Which finding a read error of the stored stream is: the metadata reader reports a missing
/// chunk, a chunk that does not decompress and a digest or size mismatch as corrupt data with
/// the reason in words.
fn classify(err: &io::Error) -> (&'static str, &'static str) {
    let reason = match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<metadata::Error>())
    {
        Some(metadata::Error::Corrupt { reason, .. }) => reason.clone(),
        Some(other) if other.kind() == MetaKind::NotFound => {
            return (codes::TAR_SPLIT_MISSING, "tar-split data is missing")
        }
        Some(other) => other.to_string(),
        None => err.to_string(),
    };
    if reason.starts_with("missing") {
        (codes::TAR_SPLIT_MISSING, "a tar-split chunk is missing")
    } else if reason.starts_with("sha256") || reason.contains("the record says") {
        (
            codes::TAR_SPLIT_DIGEST_MISMATCH,
            "the tar-split data does not match the digest and size stored with it",
        )
    } else {
        (
            codes::TAR_SPLIT_CORRUPT,
            "the tar-split data does not decompress",
        )
    }
}
