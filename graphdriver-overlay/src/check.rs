//! The overlay driver's own consistency checks and repairs, for `store-fsck`: a layer's `link`
//! file, its `l/<short-id>` symlink, and its `lower` file against the chain the store's metadata
//! records. Everything here is recreatable without loss: the short ID is only a name.

use std::path::{Path, PathBuf};

use graphdriver::{fsutil, DriverError, DriverFinding, Result};

use crate::layout::{self, Layout};

/// A layer directory without its `diff/` directory: its files are gone.
pub(crate) const DIFF_DIR_MISSING: &str = "diff-dir-missing";
/// The `link` file is missing.
pub(crate) const LINK_MISSING: &str = "link-missing";
/// The `link` file does not hold a short ID, or its `l/` link belongs to another layer.
pub(crate) const LINK_WRONG: &str = "link-wrong";
/// The `l/<short-id>` symlink is missing.
pub(crate) const SHORT_LINK_MISSING: &str = "short-link-missing";
/// The `l/<short-id>` symlink does not lead to the layer's `diff/`.
pub(crate) const SHORT_LINK_DANGLING: &str = "short-link-dangling";
/// The `lower` file disagrees with the chain in the metadata.
pub(crate) const LOWER_MISMATCH: &str = "lower-mismatch";

fn finding(
    code: &'static str,
    id: &str,
    path: PathBuf,
    message: String,
    repairable: bool,
) -> DriverFinding {
    DriverFinding {
        code,
        id: id.to_owned(),
        path,
        message,
        repairable,
    }
}

/// What the `link` file holds: `Ok(Some(short))`, `Ok(None)` when it is missing, `Err(text)`
/// when it holds something else.
fn read_link_file(layout: &Layout, id: &str) -> std::result::Result<Option<String>, String> {
    match std::fs::read_to_string(layout.link_file(id)) {
        Ok(text) => {
            let short = text.trim_end_matches('\n');
            if layout::is_short_id(short) {
                Ok(Some(short.to_owned()))
            } else {
                Err(short.chars().take(80).collect())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The target `l/<short>` must have for layer `id`.
fn link_target(id: &str) -> PathBuf {
    Path::new("..").join(id).join(layout::DIFF_DIR)
}

/// Checks one layer; `lower_ids` are the layers below it, nearest first.
pub(crate) fn check_layer(layout: &Layout, id: &str, lower_ids: &[&str]) -> Vec<DriverFinding> {
    let mut out = Vec::new();
    if graphdriver::validate_id(id).is_err() || !layout.layer(id).is_dir() {
        return out;
    }
    let diff = layout.diff(id);
    if !diff.is_dir() {
        out.push(finding(
            DIFF_DIR_MISSING,
            id,
            diff,
            "the layer directory has no diff directory: its files are gone".into(),
            false,
        ));
    }
    let link_file = layout.link_file(id);
    match read_link_file(layout, id) {
        Ok(None) => out.push(finding(
            LINK_MISSING,
            id,
            link_file,
            "the link file (the layer's short ID) is missing".into(),
            true,
        )),
        Err(text) => out.push(finding(
            LINK_WRONG,
            id,
            link_file,
            format!("the link file holds {text:?}, not a short ID"),
            true,
        )),
        Ok(Some(short)) => {
            let link = layout.link(&short);
            match std::fs::read_link(&link) {
                Ok(target) if target == link_target(id) => {}
                Ok(target) => {
                    // A link to another layer that claims the same short ID: ours must change.
                    let other = other_owner(layout, &target, &short);
                    match other {
                        Some(other) => out.push(finding(
                            LINK_WRONG,
                            id,
                            link,
                            format!("its short ID {short} is the short ID of layer {other} too"),
                            true,
                        )),
                        None => out.push(finding(
                            SHORT_LINK_DANGLING,
                            id,
                            link,
                            format!(
                                "the short link leads to {}, not to {}",
                                target.display(),
                                link_target(id).display()
                            ),
                            true,
                        )),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push(finding(
                    SHORT_LINK_MISSING,
                    id,
                    link,
                    format!("the short link l/{short} is missing"),
                    true,
                )),
                Err(_) => out.push(finding(
                    SHORT_LINK_DANGLING,
                    id,
                    link,
                    format!("l/{short} is not a symlink"),
                    true,
                )),
            }
        }
    }
    if let Some(expected) = expected_lower(layout, lower_ids) {
        let lower_file = layout.lower_file(id);
        let actual = match std::fs::read_to_string(&lower_file) {
            Ok(text) => layout::parse_lower(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Vec::new()),
            Err(_) => None,
        };
        if actual.as_ref() != Some(&expected) {
            let shown = |c: &[String]| {
                if c.is_empty() {
                    "no lower layers".to_owned()
                } else {
                    layout::render_lower(c)
                }
            };
            out.push(finding(
                LOWER_MISMATCH,
                id,
                lower_file,
                format!(
                    "the lower file says {}, the metadata's chain is {}",
                    actual
                        .as_deref()
                        .map_or_else(|| "something unreadable".to_owned(), shown),
                    shown(&expected)
                ),
                true,
            ));
        }
    }
    out
}

/// The layer that owns `l/<short>` when the link leads to another layer whose `link` file holds
/// the same short ID.
fn other_owner(layout: &Layout, target: &Path, short: &str) -> Option<String> {
    let mut parts = target.components();
    let (Some(std::path::Component::ParentDir), Some(other), Some(diff), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let other = other.as_os_str().to_str()?;
    (diff.as_os_str() == layout::DIFF_DIR
        && read_link_file(layout, other).ok().flatten().as_deref() == Some(short))
    .then(|| other.to_owned())
}

/// The short IDs the `lower` file must list, or `None` when a lower layer's own `link` file is
/// unreadable (its own check reports that; this one waits for its repair).
fn expected_lower(layout: &Layout, lower_ids: &[&str]) -> Option<Vec<String>> {
    lower_ids
        .iter()
        .map(|lower| read_link_file(layout, lower).ok().flatten())
        .collect()
}

/// Repairs one finding of [`check_layer`]; `Ok(false)` for what cannot be recreated.
pub(crate) fn repair_layer(
    layout: &Layout,
    id: &str,
    lower_ids: &[&str],
    finding: &DriverFinding,
) -> Result<bool> {
    graphdriver::validate_id(id)?;
    if !layout.layer(id).is_dir() {
        return Err(DriverError::UnknownLayer { id: id.to_owned() });
    }
    match finding.code {
        LINK_MISSING | LINK_WRONG => {
            let short = layout::new_short_id();
            make_link(layout, id, &short)?;
            write_atomically(&layout.link_file(id), short.as_bytes())?;
        }
        SHORT_LINK_MISSING | SHORT_LINK_DANGLING => {
            let Ok(Some(short)) = read_link_file(layout, id) else {
                return Ok(false);
            };
            let link = layout.link(&short);
            match std::fs::remove_file(&link) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove link", &link, e))
                }
                _ => {}
            }
            make_link(layout, id, &short)?;
        }
        LOWER_MISMATCH => {
            let Some(expected) = expected_lower(layout, lower_ids) else {
                return Ok(false);
            };
            let path = layout.lower_file(id);
            if expected.is_empty() {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io("remove", &path, e))
                    }
                    _ => {}
                }
            } else {
                write_atomically(&path, layout::render_lower(&expected).as_bytes())?;
            }
        }
        _ => return Ok(false),
    }
    fsutil::fsync_dir(&layout.layer(id))?;
    Ok(true)
}

/// Creates `l/<short> -> ../<id>/diff` and makes it durable.
fn make_link(layout: &Layout, id: &str, short: &str) -> Result<()> {
    let link = layout.link(short);
    std::os::unix::fs::symlink(link_target(id), &link).map_err(|e| io("create link", &link, e))?;
    fsutil::fsync_dir(&layout.link_dir())
}

/// Replaces `path` with `data` whole: a crash leaves the old content or the new, never a part.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("fsck-tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("write", path, e)
    })
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> DriverError {
    DriverError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layout with layers made as the driver makes them (without mounting anything).
    fn layer(layout: &Layout, id: &str, lower: &[&str]) -> String {
        std::fs::create_dir_all(layout.diff(id)).unwrap();
        std::fs::create_dir_all(layout.link_dir()).unwrap();
        let short = layout::new_short_id();
        std::fs::write(layout.link_file(id), &short).unwrap();
        let chain: Vec<String> = lower
            .iter()
            .map(|l| std::fs::read_to_string(layout.link_file(l)).unwrap())
            .collect();
        if !chain.is_empty() {
            std::fs::write(layout.lower_file(id), layout::render_lower(&chain)).unwrap();
        }
        std::os::unix::fs::symlink(link_target(id), layout.link(&short)).unwrap();
        short
    }

    fn codes(found: &[DriverFinding]) -> Vec<&'static str> {
        found.iter().map(|f| f.code).collect()
    }

    /// Damages a two-layer chain one way, checks, repairs, checks again.
    #[test]
    fn each_damage_is_found_and_repaired() {
        type Damage = fn(&Layout, &str);
        let cases: &[(&str, Damage, &str)] = &[
            (
                "link file removed",
                |l, _| std::fs::remove_file(l.link_file("b")).unwrap(),
                LINK_MISSING,
            ),
            (
                "link file garbage",
                |l, _| std::fs::write(l.link_file("b"), "../x").unwrap(),
                LINK_WRONG,
            ),
            (
                "short link removed",
                |l, s| std::fs::remove_file(l.link(s)).unwrap(),
                SHORT_LINK_MISSING,
            ),
            (
                "short link retargeted",
                |l, s| {
                    std::fs::remove_file(l.link(s)).unwrap();
                    std::os::unix::fs::symlink("../gone/diff", l.link(s)).unwrap();
                },
                SHORT_LINK_DANGLING,
            ),
            (
                "lower emptied",
                |l, _| std::fs::write(l.lower_file("b"), "").unwrap(),
                LOWER_MISMATCH,
            ),
            (
                "lower garbage",
                |l, _| std::fs::write(l.lower_file("b"), "l/../../etc").unwrap(),
                LOWER_MISMATCH,
            ),
        ];
        for (name, damage, code) in cases {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::new(dir.path().to_owned());
            layer(&layout, "a", &[]);
            let short_b = layer(&layout, "b", &["a"]);
            assert!(
                check_layer(&layout, "b", &["a"]).is_empty(),
                "{name}: clean first"
            );
            damage(&layout, &short_b);
            let found = check_layer(&layout, "b", &["a"]);
            assert_eq!(codes(&found), vec![*code], "{name}");
            for f in &found {
                assert!(repair_layer(&layout, "b", &["a"], f).unwrap(), "{name}");
            }
            // A new short ID leaves the layer consistent once the lower files above it follow.
            assert!(
                check_layer(&layout, "b", &["a"]).is_empty(),
                "{name}: clean after"
            );
            assert!(
                check_layer(&layout, "a", &[]).is_empty(),
                "{name}: parent untouched"
            );
        }
    }

    #[test]
    fn a_lower_file_naming_the_wrong_chain_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        layer(&layout, "a", &[]);
        layer(&layout, "x", &[]);
        layer(&layout, "b", &["x"]);
        assert_eq!(
            codes(&check_layer(&layout, "b", &["a"])),
            vec![LOWER_MISMATCH]
        );
        std::fs::remove_dir(layout.diff("a")).unwrap();
        assert_eq!(
            codes(&check_layer(&layout, "a", &[])),
            vec![DIFF_DIR_MISSING]
        );
    }
}
