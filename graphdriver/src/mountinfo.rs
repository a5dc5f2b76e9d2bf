//! A parser of `/proc/self/mountinfo`: drivers adopt mounts left by an earlier process and fsck
//! finds stray mounts with it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::{DriverError, Result};

/// One line of `/proc/self/mountinfo` (see proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount's unique ID.
    pub mount_id: u64,
    /// The parent mount's ID.
    pub parent_id: u64,
    /// `major:minor` of the mounted device.
    pub device: (u32, u32),
    /// The directory of the filesystem that forms this mount's root.
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`ro`, `nosuid`, ...).
    pub mount_options: String,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional_fields: Vec<String>,
    /// The filesystem type (`overlay`, `ext4`, ...).
    pub fs_type: String,
    /// The mount source (`overlay`, `/dev/sda1`, ...).
    pub source: String,
    /// Per-superblock options (`lowerdir=...`, ...).
    pub super_options: String,
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn path_field(field: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

/// Parses one line; `None` for a line that does not have the documented shape.
fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let mount_id = l.next()?.parse().ok()?;
    let parent_id = l.next()?.parse().ok()?;
    let (major, minor) = l.next()?.split_once(':')?;
    let device = (major.parse().ok()?, minor.parse().ok()?);
    let root = path_field(l.next()?);
    let mount_point = path_field(l.next()?);
    let mount_options = l.next()?.to_owned();
    let optional_fields = l.filter(|f| !f.is_empty()).map(str::to_owned).collect();
    let mut r = right.splitn(3, ' ');
    let fs_type = r.next()?.to_owned();
    let source = String::from_utf8_lossy(&unescape(r.next()?)).into_owned();
    let super_options = r.next().unwrap_or("").to_owned();
    Some(MountInfo {
        mount_id,
        parent_id,
        device,
        root,
        mount_point,
        mount_options,
        optional_fields,
        fs_type,
        source,
        super_options,
    })
}

/// Parses the text of a mountinfo file. Lines of another shape are skipped (the format may grow
/// fields; a line we cannot read is not a mount we manage).
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// The calling process's mounts, in mount order.
pub fn mounts() -> Result<Vec<MountInfo>> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| DriverError::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })?;
    Ok(parse(&text))
}

/// The mounts whose mount point is `path` or beneath it (compared component-wise, so `/a/b`
/// is not under `/a/bc`), in mount order. `path` is resolved first where it exists (the kernel
/// lists mount points without symlinks: `/var/run/x` is mounted at `/run/x`).
pub fn mounts_under(path: &Path) -> Result<Vec<MountInfo>> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Ok(mounts()?
        .into_iter()
        .filter(|m| m.mount_point.starts_with(&path))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:31 / /var/lib/store/overlay/abc/merged rw,relatime - overlay overlay rw,lowerdir=/x:/y,upperdir=/u,workdir=/w,index=off
37 22 0:32 / /mnt/with\\040space ro master:2 shared:3 - tmpfs tmp\\040fs rw
garbage line
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].fs_type, "overlay");
        assert_eq!(m[1].device, (0, 31));
        assert!(m[1].super_options.contains("index=off"));
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(m[2].source, "tmp fs");
        assert_eq!(m[2].optional_fields, vec!["master:2", "shared:3"]);
        assert!(m[0].optional_fields == vec!["shared:1"]);
    }

    #[test]
    fn own_mounts_include_root() {
        let all = mounts().unwrap();
        assert!(all.iter().any(|m| m.mount_point == Path::new("/")));
        assert!(mounts_under(Path::new("/nonexistent-dir-xyz"))
            .unwrap()
            .is_empty());
    }
}
