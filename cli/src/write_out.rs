//! Writing a (verified) stream to a file or to standard output. A file is written under a
//! temporary name beside it and renamed only when the whole stream has been read without error,
//! so that a failed export never leaves a file that looks complete.

use std::io::{self, BufWriter, Read, Write};
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_err = |source| CliError::File {
        what: "writing",
        path: path.to_owned(),
        source,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".layer-store-")
        .suffix(".partial")
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
