//! Opening: schema and driver checks, the single writer, read-only followers.

use super::*;
use crate::tables::{META, META_SCHEMA};

#[test]
fn newer_schema_is_refused_by_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = raw_db(dir.path());
        let w = db.begin_write().unwrap();
        w.open_table(META)
            .unwrap()
            .insert(META_SCHEMA, (SCHEMA_VERSION + 1).to_string().as_str())
            .unwrap();
        w.commit().unwrap();
    }
    for o in [opts(), OpenOptions::read_only()] {
        match MetadataStore::open(dir.path(), &o) {
            Err(Error::SchemaTooNew {
                found, supported, ..
            }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => panic!("a newer schema was accepted"),
        }
    }
}

#[test]
fn unreadable_schema_version_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = raw_db(dir.path());
        let w = db.begin_write().unwrap();
        w.open_table(META)
            .unwrap()
            .insert(META_SCHEMA, "one")
            .unwrap();
        w.commit().unwrap();
    }
    let err = MetadataStore::open(dir.path(), &opts()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("metadata.redb"), "{err}");
}

#[test]
fn driver_is_checked_and_can_be_discovered() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let err = MetadataStore::open(dir.path(), &OpenOptions::new("overlay"))
        .err()
        .unwrap();
    match &err {
        Error::DriverMismatch {
            store, requested, ..
        } => assert_eq!((store.as_str(), requested.as_str()), ("vfs", "overlay")),
        other => panic!("unexpected {other}"),
    }
    assert_eq!(err.kind(), ErrorKind::Precondition);
    // An empty driver name takes the store's own.
    let s = MetadataStore::open(dir.path(), &OpenOptions::default()).unwrap();
    assert_eq!(s.driver(), "vfs");
    drop(s);
    let r = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    assert_eq!(r.driver(), "vfs");
}

#[test]
fn creating_needs_a_driver_and_reading_needs_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let err = MetadataStore::open(dir.path(), &OpenOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(!dir.path().join(DB_FILE).exists());

    let err = MetadataStore::open(&dir.path().join("none"), &OpenOptions::read_only())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!dir.path().join("none").exists());
}

#[test]
fn second_writer_is_refused_with_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let err = MetadataStore::open(dir.path(), &opts()).err().unwrap();
    match &err {
        Error::InUse { pid, path } => {
            assert_eq!(*pid, Some(std::process::id()));
            assert_eq!(path, &dir.path().join(DB_FILE));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("in use by process"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InUse);
    // Closing releases the store and its pid file.
    drop(first);
    assert!(!dir.path().join(PID_FILE).exists());
    open(dir.path());
}

#[test]
fn a_reader_follows_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let writer = open(dir.path());
    let reader = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    assert!(reader.is_read_only());
    assert!(reader.layers().unwrap().is_empty());
    for n in 0..20 {
        let id = commit(&writer, n, None, &noise(100, n.into()));
        assert_eq!(reader.layer(&id).unwrap().unwrap().diff_id, diff(n));
        assert_eq!(read_tar_split(&reader, &id).unwrap(), noise(100, n.into()));
        assert_eq!(reader.layers().unwrap().len(), n as usize + 1);
    }
    // A second reader, and a writer refused beside both.
    let reader2 = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    assert_eq!(reader2.layers().unwrap().len(), 20);
    assert_eq!(
        MetadataStore::open(dir.path(), &opts())
            .err()
            .unwrap()
            .kind(),
        ErrorKind::InUse
    );
}

#[test]
fn read_only_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let id = commit(&open(dir.path()), 1, None, b"x");
    let mut r = MetadataStore::open(dir.path(), &OpenOptions::read_only()).unwrap();
    let is_ro = |e: Error| assert_eq!(e.kind(), ErrorKind::Precondition, "{e}");
    is_ro(r.begin().err().unwrap());
    is_ro(r.set_state(&id, LayerState::Removing).unwrap_err());
    is_ro(r.remove_layer(&id).unwrap_err());
    is_ro(r.begin_creation("c").unwrap_err());
    is_ro(r.clear_pending("c").unwrap_err());
    is_ro(r.remove_mount("m").unwrap_err());
    is_ro(r.check_integrity().unwrap_err());
    is_ro(
        r.set_mount(&MountRecord {
            name: "m".into(),
            mount_id: "m".into(),
            init_id: None,
            parent: None,
            created_unix_nanos: 0,
        })
        .unwrap_err(),
    );
    assert_eq!(r.layer(&id).unwrap().unwrap().state, LayerState::Committed);
}

#[test]
fn integrity_check_passes_a_clean_store_and_waits_for_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let id = commit(&store, 1, None, &noise(10_000, 1));
    // A point read leaves the writer's cached snapshot, which must not count as a reader.
    assert!(store.layer(&id).unwrap().is_some());
    assert!(store.check_integrity().unwrap());

    let t = store.begin().unwrap();
    assert_eq!(
        store.check_integrity().unwrap_err().kind(),
        ErrorKind::InUse
    );
    drop(t);
    let reader = store.tar_split(&id).unwrap();
    assert_eq!(
        store.check_integrity().unwrap_err().kind(),
        ErrorKind::InUse
    );
    drop(reader);
    assert!(store.check_integrity().unwrap());

    drop(store);
    let checked = MetadataStore::open(
        dir.path(),
        &OpenOptions {
            check_integrity: true,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(read_tar_split(&checked, &id).unwrap(), noise(10_000, 1));
}

#[test]
fn an_empty_database_file_is_damage_not_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    commit(&open(dir.path()), 1, None, b"");
    std::fs::File::create(dir.path().join(DB_FILE)).unwrap();
    for o in [opts(), OpenOptions::read_only()] {
        let err = MetadataStore::open(dir.path(), &o).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("metadata.redb"), "{err}");
    }
}

#[test]
fn a_leftover_half_created_database_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("metadata.redb.new"),
        b"garbage from a crash",
    )
    .unwrap();
    let store = open(dir.path());
    commit(&store, 1, None, b"");
    assert!(!dir.path().join("metadata.redb.new").exists());
}
