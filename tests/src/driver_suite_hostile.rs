//! The hostile-tar suite: tars that try to write, link or delete outside the layer, or that are
//! malformed, each applied as a layer above a base layer. Every case is either refused (then
//! the layer is removed and nothing of it may be left in the driver's home) or confined (the
//! layer holds what the tar said, inside it). In every case a sentinel tree beside the driver's
//! home must be unchanged.
//!
//! Run it for a driver with [`hostile_tar_tests!`](crate::hostile_tar_tests) and the same kind of
//! factory as the conformance suite ([`crate::driver_suite::Factory`]).

use std::fs;
use std::path::{Path, PathBuf};

use graphdriver::tar_writer::{EntryMeta, TarWriter};
use graphdriver::CreateOpts;
use tar_split::{EntryKind, NullSink, TarReader};

use crate::driver_suite::{compare_trees, tar, Factory, M};

/// Generates one `#[test]` per hostile case for the driver made by `$factory`, optionally with
/// `tmp = <Option<PathBuf>>` as in [`driver_suite_tests!`](crate::driver_suite_tests).
#[macro_export]
macro_rules! hostile_tar_tests {
    ($factory:path) => {
        $crate::hostile_tar_tests!($factory, tmp = None);
    };
    ($factory:path, tmp = $tmp:expr) => {
        $crate::hostile_tar_tests!(@cases $factory, $tmp;
            dotdot_name,
            absolute_name,
            symlink_absolute_then_file,
            symlink_relative_then_file,
            symlink_chained_then_file,
            file_over_lower_symlink,
            file_beneath_lower_dir_symlink,
            symlink_loop_then_file,
            hard_link_outside,
            hard_link_through_symlink,
            hard_link_through_lower_symlink,
            whiteout_named_dotdot,
            whiteout_climbing_out,
            oversized_pax_header,
            oversized_gnu_long_name,
            truncated_data,
            truncated_header,
            corrupt_checksum,
            garbage,
            trusted_overlay_xattr,
            user_overlay_xattr,
            path_deeper_than_path_max,
            hard_link_to_a_directory,
        );
    };
    (@cases $factory:path, $tmp:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::driver_suite_hostile::run(&$factory, $tmp, $crate::driver_suite_hostile::cases::$case);
            }
        )*
    };
}

/// What a case expects of its tar.
pub enum Expect {
    /// `apply_diff` fails.
    Refused,
    /// `apply_diff` succeeds; the function checks the layer's view.
    Confined(fn(&Path)),
}

/// One hostile case: an optional base layer's tar, the hostile tar, and what must happen. The
/// tars are built knowing the sentinel's absolute path.
pub struct Case {
    /// The tar of the layer below the hostile one (empty: an empty base layer).
    pub base: Vec<u8>,
    /// The hostile layer's tar.
    pub tar: Vec<u8>,
    /// Refused or confined.
    pub expect: Expect,
}

/// Runs one case against a driver made by `factory`, in a fresh temporary directory.
pub fn run(factory: &Factory, base_tmp: Option<PathBuf>, case: fn(&Path) -> Case) {
    let tmp = match base_tmp {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let home = tmp.path().join("home");
    let sentinel = tmp.path().join("sentinel");
    let pristine = tmp.path().join("pristine");
    for dir in [&sentinel, &pristine] {
        fs::create_dir_all(dir.join("dir")).expect("sentinel");
        fs::write(dir.join("victim"), b"original").expect("sentinel");
        fs::write(dir.join("dir/inner"), b"inner").expect("sentinel");
    }
    let Some(driver) = factory(&home) else {
        return;
    };
    let case = case(&sentinel);

    let base = "0000000000000000000000000000base".to_owned();
    driver
        .create(&base, None, &CreateOpts::default())
        .expect("create base");
    let base_tar = if case.base.is_empty() {
        tar(&[])
    } else {
        case.base
    };
    let mut r = TarReader::new(&base_tar[..], NullSink);
    driver.apply_diff(&base, None, &mut r).expect("apply base");
    driver.finalize(&base).expect("finalize base");

    let id = "00000000000000000000000000hostile".to_owned();
    driver
        .create(&id, Some(&base), &CreateOpts::default())
        .expect("create");
    let mut r = TarReader::new(&case.tar[..], NullSink);
    let applied = driver
        .apply_diff(&id, Some(&base), &mut r)
        .and_then(|size| {
            r.finish().map_err(|source| graphdriver::DriverError::Tar {
                id: id.clone(),
                source,
            })?;
            Ok(size)
        });
    match (case.expect, applied) {
        (Expect::Refused, Ok(_)) => panic!("the hostile tar was accepted"),
        (Expect::Refused, Err(e)) => {
            eprintln!("refused as expected: {e}");
            driver.remove(&id).expect("remove refused layer");
            assert!(!driver.exists(&id), "the refused layer still exists");
            let listed = driver.layers().expect("layers");
            assert!(
                listed.iter().all(|l| l.id != id),
                "the refused layer is still listed: {listed:?}"
            );
            let left = paths_naming(&home, &id);
            assert!(left.is_empty(), "left behind: {left:?}");
        }
        (Expect::Confined(_), Err(e)) => panic!("a confinable tar was refused: {e}"),
        (Expect::Confined(check), Ok(_)) => {
            driver.finalize(&id).expect("finalize");
            let view = driver.get(&id, &Default::default()).expect("get");
            check(&view);
            driver.put(&id).expect("put");
        }
    }
    let diffs = compare_trees(&sentinel, &pristine);
    assert!(
        diffs.is_empty(),
        "the sentinel beside the layer changed:\n{}",
        diffs.join("\n")
    );
    driver.cleanup().expect("cleanup");
}

/// Paths under `root` whose name contains `needle`.
fn paths_naming(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().contains(needle) {
                out.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out
}

/// A tar whose only member is a header of `kind` claiming `size` bytes of data, and no data:
/// for extension headers too large to allocate.
fn header_claiming(kind: u8, size: u64) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    w.append(
        &EntryMeta::new(EntryKind::Other(kind), "././@LongLink"),
        &mut std::io::empty(),
    )
    .expect("header");
    let mut bytes = w.finish().expect("end");
    let field = format!("{size:011o}\0");
    bytes[124..136].copy_from_slice(field.as_bytes());
    bytes[148..156].fill(b' ');
    let sum: u32 = bytes[..512].iter().map(|&b| u32::from(b)).sum();
    bytes[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    bytes
}

fn kind_of(view: &Path, rel: &str) -> fs::FileType {
    fs::symlink_metadata(view.join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .file_type()
}

/// The cases, one function each, given the sentinel's absolute path.
pub mod cases {
    use super::*;

    fn s(p: &Path) -> String {
        p.to_str().expect("utf-8 temporary path").to_owned()
    }

    /// A name climbing out with `..` lands inside, cleaned.
    pub fn dotdot_name(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::file("../../../../../../../../victim", b"pwned")]),
            expect: Expect::Confined(|v| {
                assert_eq!(fs::read(v.join("victim")).expect("read"), b"pwned")
            }),
        }
    }

    /// An absolute name lands inside.
    pub fn absolute_name(sentinel: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::file(&format!("{}/victim", s(sentinel)), b"pwned")]),
            expect: Expect::Confined(|_| {}),
        }
    }

    /// An absolute symlink to the sentinel, then a file beneath it.
    pub fn symlink_absolute_then_file(sentinel: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[
                M::symlink("esc", &s(sentinel)),
                M::file("esc/victim", b"pwned"),
            ]),
            expect: Expect::Confined(|v| assert!(kind_of(v, "esc").is_dir())),
        }
    }

    /// A relative symlink climbing to the sentinel, then a file beneath it.
    pub fn symlink_relative_then_file(sentinel: &Path) -> Case {
        let target = format!(
            "{}{}",
            "../".repeat(24),
            s(sentinel).trim_start_matches('/')
        );
        Case {
            base: Vec::new(),
            tar: tar(&[M::symlink("esc", &target), M::file("esc/victim", b"pwned")]),
            expect: Expect::Confined(|v| assert!(kind_of(v, "esc").is_dir())),
        }
    }

    /// A chain of symlinks ending at the sentinel, then a file beneath the first.
    pub fn symlink_chained_then_file(sentinel: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[
                M::symlink("a", "b"),
                M::symlink("b", &s(sentinel)),
                M::file("a/victim", b"pwned"),
            ]),
            expect: Expect::Confined(|v| {
                assert!(kind_of(v, "a").is_dir());
                assert!(kind_of(v, "b").is_symlink());
            }),
        }
    }

    /// A file written over a lower layer's symlink to the sentinel replaces the symlink.
    pub fn file_over_lower_symlink(sentinel: &Path) -> Case {
        Case {
            base: tar(&[M::symlink("victim", &format!("{}/victim", s(sentinel)))]),
            tar: tar(&[M::file("victim", b"pwned")]),
            expect: Expect::Confined(|v| {
                assert!(kind_of(v, "victim").is_file());
                assert_eq!(fs::read(v.join("victim")).expect("read"), b"pwned");
            }),
        }
    }

    /// A file beneath a lower layer's directory symlink to the sentinel.
    pub fn file_beneath_lower_dir_symlink(sentinel: &Path) -> Case {
        Case {
            base: tar(&[M::symlink("d", &s(sentinel))]),
            tar: tar(&[M::file("d/victim", b"pwned")]),
            expect: Expect::Confined(|v| assert!(kind_of(v, "d").is_dir())),
        }
    }

    /// Two symlinks pointing at each other, then a file beneath one.
    pub fn symlink_loop_then_file(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[
                M::symlink("l1", "l2"),
                M::symlink("l2", "l1"),
                M::file("l1/x", b"x"),
            ]),
            expect: Expect::Confined(|v| assert!(kind_of(v, "l1").is_dir())),
        }
    }

    /// A hard link to a file outside the layer.
    pub fn hard_link_outside(sentinel: &Path) -> Case {
        let target = format!(
            "{}{}/victim",
            "../".repeat(24),
            s(sentinel).trim_start_matches('/')
        );
        Case {
            base: Vec::new(),
            tar: tar(&[M::hard("h", &target)]),
            expect: Expect::Refused,
        }
    }

    /// A hard link through a symlink of the same tar.
    pub fn hard_link_through_symlink(sentinel: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::symlink("s", &s(sentinel)), M::hard("h", "s/victim")]),
            expect: Expect::Refused,
        }
    }

    /// A hard link through a lower layer's symlink.
    pub fn hard_link_through_lower_symlink(sentinel: &Path) -> Case {
        Case {
            base: tar(&[M::symlink("s", &s(sentinel))]),
            tar: tar(&[M::hard("h", "s/victim")]),
            expect: Expect::Refused,
        }
    }

    /// A whiteout naming `..`.
    pub fn whiteout_named_dotdot(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::file("dir/.wh...", b"")]),
            expect: Expect::Refused,
        }
    }

    /// A whiteout whose name climbs out of the layer.
    pub fn whiteout_climbing_out(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::file("../../../../../../.wh.victim", b"")]),
            expect: Expect::Refused,
        }
    }

    /// A PAX header claiming 8 GiB: refused before allocation.
    pub fn oversized_pax_header(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: header_claiming(b'x', 0o77_777_777_777),
            expect: Expect::Refused,
        }
    }

    /// A GNU long name claiming 8 GiB: refused before allocation.
    pub fn oversized_gnu_long_name(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: header_claiming(b'L', 0o77_777_777_777),
            expect: Expect::Refused,
        }
    }

    /// A stream cut inside a file's data.
    pub fn truncated_data(_: &Path) -> Case {
        let mut t = tar(&[M::file("a", b"ok"), M::file("big", &[7u8; 10_000])]);
        t.truncate(1024 + 512 + 3000);
        Case {
            base: Vec::new(),
            tar: t,
            expect: Expect::Refused,
        }
    }

    /// A stream cut inside a header.
    pub fn truncated_header(_: &Path) -> Case {
        let mut t = tar(&[M::file("a", b"ok"), M::file("b", b"ok")]);
        t.truncate(1024 + 200);
        Case {
            base: Vec::new(),
            tar: t,
            expect: Expect::Refused,
        }
    }

    /// A header whose checksum does not match.
    pub fn corrupt_checksum(_: &Path) -> Case {
        let mut t = tar(&[M::file("a", b"ok"), M::file("b", b"ok")]);
        t[1024] ^= 0x20;
        Case {
            base: Vec::new(),
            tar: t,
            expect: Expect::Refused,
        }
    }

    /// Bytes that are no tar at all.
    pub fn garbage(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: vec![b'A'; 4096],
            expect: Expect::Refused,
        }
    }

    /// An overlayfs xattr that would forge an opaque directory.
    pub fn trusted_overlay_xattr(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::dir("d").xattr("trusted.overlay.opaque", b"y")]),
            expect: Expect::Refused,
        }
    }

    /// A user-namespace overlayfs xattr that would forge a redirect.
    pub fn user_overlay_xattr(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::file("f", b"").xattr("user.overlay.redirect", b"/etc")]),
            expect: Expect::Refused,
        }
    }

    /// A name deeper than `PATH_MAX` (4096 bytes): applied, fd-relative, inside the layer.
    pub fn path_deeper_than_path_max(_: &Path) -> Case {
        let deep = vec!["p".repeat(100); 60].join("/");
        Case {
            base: Vec::new(),
            tar: tar(&[M::file(&format!("{deep}/leaf"), b"deep")]),
            expect: Expect::Confined(|v| assert!(kind_of(v, &"p".repeat(100)).is_dir())),
        }
    }

    /// A hard link to a directory (the kernel refuses; so must the apply).
    pub fn hard_link_to_a_directory(_: &Path) -> Case {
        Case {
            base: Vec::new(),
            tar: tar(&[M::dir("d"), M::hard("h", "d")]),
            expect: Expect::Refused,
        }
    }
}
