//! `tar-split-rs`: the Go `tar-split` command's verbs and flags, over this crate.
//!
//! ```text
//! tar-split-rs disasm [--output F] [--no-stdout] [FILE|-]
//! tar-split-rs asm --input F --path DIR [--output F|-] [--compress]
//! ```
//!
//! Unlike the Go tool, `disasm` writes its metadata atomically (a temporary file renamed at the
//! end), so a failure leaves no truncated metadata behind, and `asm` refuses names that would
//! read outside `--path`. Errors print one line on stderr and exit with status 1.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::sync_channel;

use clap::{Parser, Subcommand};
use flate2::write::GzEncoder;
use flate2::Compression;
use tar_split::json::{JsonError, JsonReader, JsonWriter};
use tar_split::Entry;

#[derive(Parser)]
#[command(
    name = "tar-split-rs",
    version,
    about = "Split a tar stream into Go tar-split metadata and put it back byte for byte"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Disassemble a tar stream: record its metadata, pass the stream through to stdout.
    #[command(alias = "d")]
    Disasm {
        /// Where to write the gzip'd JSON metadata (mode 0600, replaced atomically).
        #[arg(long, default_value = "tar-data.json.gz")]
        output: PathBuf,
        /// Do not pass the tar stream through to stdout.
        #[arg(long)]
        no_stdout: bool,
        /// The tar to read; stdin when absent or `-`.
        input: Option<PathBuf>,
    },
    /// Reassemble a tar stream from its metadata and a directory of the extracted files.
    #[command(alias = "a")]
    Asm {
        /// The metadata (gzip'd or plain Go tar-split JSON).
        #[arg(long, default_value = "tar-data.json.gz")]
        input: PathBuf,
        /// The directory the tar was extracted to.
        #[arg(long)]
        path: PathBuf,
        /// Where to write the tar; `-` is stdout.
        #[arg(long, default_value = "-")]
        output: PathBuf,
        /// Gzip-compress the output.
        #[arg(long)]
        compress: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (verb, result) = match cli.command {
        Command::Disasm {
            output,
            no_stdout,
            input,
        } => ("disasm", disasm(input.as_deref(), &output, no_stdout)),
        Command::Asm {
            input,
            path,
            output,
            compress,
        } => ("asm", asm(&input, &path, &output, compress)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("tar-split-rs {verb}: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// Standard output as a plain file (a duplicate of fd 1), so that large writes go straight to
/// the kernel instead of through the line-buffered `Stdout`.
fn stdout_file() -> Result<File, String> {
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("duplicating stdout: {e}"))?;
    Ok(File::from(fd))
}

fn disasm(input: Option<&Path>, output: &Path, no_stdout: bool) -> Result<(), String> {
    let input: Box<dyn Read> = match input {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => Box::new(File::open(p).map_err(|e| format!("opening {}: {e}", p.display()))?),
    };
    let meta = Output::create(output)?;
    // Deflate runs on a second thread, overlapping with parsing and checksumming.
    let mut json = JsonWriter::gzip_parallel(
        BufWriter::with_capacity(1 << 16, meta),
        Compression::default(),
    )
    .map_err(|e| format!("starting the compressor: {e}"))?;
    let passthrough: Box<dyn Write> = if no_stdout {
        Box::new(io::sink())
    } else {
        Box::new(stdout_file()?)
    };
    tar_split::disassemble(input, passthrough, &mut json).map_err(|e| chain(&e))?;
    let meta = json
        .finish_parallel_gzip()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(|e| format!("writing {}: {e}", output.display()))?;
    meta.commit()
}

fn asm(input: &Path, path: &Path, output: &Path, compress: bool) -> Result<(), String> {
    let meta = File::open(input).map_err(|e| format!("opening {}: {e}", input.display()))?;
    let getter = tar_split::DirGetter::new(path)
        .map_err(|e| format!("opening directory {}: {e}", path.display()))?;
    let entries = read_ahead(JsonReader::new(meta));
    let to_stdout = output.as_os_str() == "-";
    let out = if to_stdout {
        Output::Plain(stdout_file()?)
    } else {
        Output::create(output)?
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    if compress {
        let mut gz = GzEncoder::new(&mut out, Compression::default());
        tar_split::assemble(entries, Box::new(getter), &mut gz).map_err(|e| chain(&e))?;
        gz.finish()
            .map_err(|e| format!("writing the output: {e}"))?;
    } else {
        tar_split::assemble(entries, Box::new(getter), &mut out).map_err(|e| chain(&e))?;
    }
    let out = out
        .into_inner()
        .map_err(|e| format!("writing the output: {}", e.into_error()))?;
    out.commit()
}

/// Bytes of decoded entries handed over at a time by [`read_ahead`]; with the channel's depth
/// this bounds what waits between the threads (plus one entry per batch, itself capped by the
/// reader's limits).
const BATCH_BYTES: usize = 256 * 1024;

/// Runs the metadata reader (inflate, JSON, base64) on a thread of its own, so that it overlaps
/// with opening, checksumming and copying the files on this one.
fn read_ahead<I>(entries: I) -> impl Iterator<Item = Result<Entry, JsonError>>
where
    I: Iterator<Item = Result<Entry, JsonError>> + Send + 'static,
{
    let (tx, rx) = sync_channel::<Vec<Result<Entry, JsonError>>>(4);
    let spawned = std::thread::Builder::new()
        .name("tar-split-read".into())
        .spawn(move || {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for entry in entries {
                bytes += match &entry {
                    Ok(Entry::Segment(s)) => s.len(),
                    Ok(Entry::File(f)) => f.name.len() + 32,
                    Err(_) => BATCH_BYTES,
                };
                batch.push(entry);
                if bytes >= BATCH_BYTES {
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        return; // The assembler stopped.
                    }
                    bytes = 0;
                }
            }
            let _ = tx.send(batch);
        });
    // Without a thread the entries are lost: say so through the stream itself.
    let failed = spawned.err().map(|e| {
        Err(JsonError::Io {
            offset: 0,
            source: io::Error::other(format!("starting the metadata reader: {e}")),
        })
    });
    failed.into_iter().chain(rx.into_iter().flatten())
}

/// Where a command writes its result: a temporary file beside the destination, renamed over it
/// once complete (so a failure leaves no partial file), or the destination itself when it is not
/// a regular file (`/dev/null`, a pipe, stdout).
enum Output {
    Atomic {
        tmp: tempfile::NamedTempFile,
        dest: PathBuf,
    },
    Plain(File),
}

impl Output {
    fn create(dest: &Path) -> Result<Output, String> {
        let special = std::fs::metadata(dest)
            .map(|m| !m.file_type().is_file())
            .unwrap_or(false);
        if special {
            let f = File::create(dest).map_err(|e| format!("opening {}: {e}", dest.display()))?;
            return Ok(Output::Plain(f));
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // tempfile creates the file with mode 0600, as the Go tool creates its metadata.
        let tmp = tempfile::Builder::new()
            .prefix(".tar-split-rs-")
            .tempfile_in(dir)
            .map_err(|e| format!("creating a temporary file in {}: {e}", dir.display()))?;
        Ok(Output::Atomic {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    fn commit(self) -> Result<(), String> {
        match self {
            Output::Plain(mut f) => f.flush().map_err(|e| format!("writing the output: {e}")),
            Output::Atomic { tmp, dest } => {
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| format!("syncing {}: {e}", dest.display()))?;
                tmp.persist(&dest)
                    .map(drop)
                    .map_err(|e| format!("renaming into {}: {}", dest.display(), e.error))
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Atomic { tmp, .. } => tmp.write(buf),
            Output::Plain(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Atomic { tmp, .. } => tmp.flush(),
            Output::Plain(f) => f.flush(),
        }
    }
}
