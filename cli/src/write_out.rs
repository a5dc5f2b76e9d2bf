//! Writing a (verified) stream to a file or to standard output. A regular file is written under a
//! temporary name beside it and renamed only when the whole stream has been read without error,
//! so that a failed export never leaves a file that looks complete. Anything else that exists
//! at the path (`/dev/null`, a FIFO, a terminal) is written in place: renaming over it would
//! replace a device node with a file.

use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::error::CliError;

/// Copies `input` to `output` (or stdout when `None`); returns the bytes written.
pub fn write_stream(input: &mut dyn Read, output: Option<&Path>) -> Result<u64, CliError> {
    match output {
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
            let n = copy(input, &mut out, "standard output")?;
            out.flush()
                .map_err(|e| CliError::io("writing to standard output", e))?;
            Ok(n)
        }
        Some(path) => write_file(input, path),
    }
}

fn write_file(input: &mut dyn Read, path: &Path) -> Result<u64, CliError> {
    let file_err = |source| CliError::File {
        what: "writing",
        path: path.to_owned(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            let special = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(file_err)?;
            let mut out = BufWriter::with_capacity(1 << 20, special);
            let n = copy(input, &mut out, &path.display().to_string())?;
            out.flush().map_err(file_err)?;
            return Ok(n);
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // 0666 less the umask, as a file the shell's `>` creates (tempfile's default is 0600).
    let mut temp = tempfile::Builder::new()
        .prefix(".layer-store-")
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(file_err)?;
    let n = {
        let mut out = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        let n = copy(input, &mut out, &path.display().to_string())?;
        out.flush().map_err(file_err)?;
        n
    };
    temp.as_file().sync_all().map_err(file_err)?;
    // The temporary file is removed when dropped on any error above.
    temp.persist(path).map_err(|e| file_err(e.error))?;
    Ok(n)
}

/// `io::copy`, telling a failure to read (the stream: its error names the layer) from a
/// failure to write (naming the output).
fn copy(input: &mut dyn Read, out: &mut dyn Write, out_name: &str) -> Result<u64, CliError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| CliError::io(format!("writing to {out_name}"), e))?;
        total += n as u64;
    }
}

/// A read error of a store stream: when it wraps a store error (a corrupt layer), that error
/// is what the user needs to see.
fn read_error(e: io::Error) -> CliError {
    use layer_store::StoreError;
    if !e.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
        return CliError::io("reading the stream", e);
    }
    match e.into_inner().map(|inner| inner.downcast::<StoreError>()) {
        Some(Ok(store_err)) => CliError::Store(*store_err),
        // Checked just above: the inner error is a StoreError.
        _ => CliError::Usage("reading the stream failed".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_the_stream_ends_well() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.tar");
        let n = write_stream(&mut &b"all of it"[..], Some(&out)).unwrap();
        assert_eq!(n, 9);
        assert_eq!(std::fs::read(&out).unwrap(), b"all of it");
        // The same mode as a file created the ordinary way (0666 less the umask).
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&out), mode(&plain));
        std::fs::remove_file(&plain).unwrap();

        let failing = dir.path().join("failing.tar");
        let mut broken = b"some".chain(Failing);
        assert!(write_stream(&mut broken, Some(&failing)).is_err());
        assert!(!failing.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary file left behind");
    }

    #[test]
    fn a_device_is_written_in_place_never_replaced() {
        let n = write_stream(&mut &b"gone"[..], Some(Path::new("/dev/null"))).unwrap();
        assert_eq!(n, 4);
        use std::os::unix::fs::FileTypeExt as _;
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("the layer is corrupt"))
        }
    }
}
