//! Progress on stderr for long work (register, load, export), shown only when stderr is a
//! terminal: a script reading the command's output never sees it. It shows bytes, rate and, for
//! tar streams, the members passed so far.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::tar_count::MemberCounter;

/// The file count's value once the stream turned out not to be a plain tar.
const NOT_COUNTED: u64 = u64::MAX;

/// Whether progress is shown: stderr is a terminal, and `LAYER_STORE_PROGRESS=0` does not turn
/// it off.
fn enabled() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("LAYER_STORE_PROGRESS").is_none_or(|v| v != "0")
}

/// A progress display for one stream. Every method is a no-op when it is hidden.
pub struct Progress {
    bar: ProgressBar,
    /// Tar members counted so far; `None` when the stream is not counted.
    files: Option<Arc<AtomicU64>>,
}

impl Progress {
    /// A byte counter labelled `message`: a bar and an ETA when `total` is known, else bytes and
    /// rate. With `tar`, the stream's tar members are counted too (shown while the stream looks
    /// like a tar; a compressed stream shows bytes only).
    pub fn new(message: impl Into<String>, total: Option<u64>, tar: bool) -> Progress {
        if !enabled() {
            return Progress {
                bar: ProgressBar::hidden(),
                files: None,
            };
        }
        let files = tar.then(|| Arc::new(AtomicU64::new(0)));
        let files_part = if tar { " {files}" } else { "" };
        let template = match total {
            Some(_) => format!(
                "{{msg}} [{{bar:30}}] {{binary_bytes}}/{{binary_total_bytes}} \
                 {{binary_bytes_per_sec}}{files_part} eta {{eta}}"
            ),
            None => format!(
                "{{spinner}} {{msg}} {{binary_bytes}} {{binary_bytes_per_sec}}{files_part} {{elapsed}}"
            ),
        };
        let shown = files.clone();
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            .with_key(
                "files",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let n = shown
                        .as_ref()
                        .map_or(NOT_COUNTED, |n| n.load(Ordering::Relaxed));
                    if n != NOT_COUNTED {
                        let _ = write!(w, "{n} files");
                    }
                },
            );
        let bar =
            ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr()).with_style(style);
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar, files }
    }

    /// `reader`, reporting what passes through it.
    pub fn wrap_read<R: Read>(&self, reader: R) -> ProgressReader<R> {
        ProgressReader {
            inner: reader,
            bar: self.bar.clone(),
            counter: self
                .files
                .clone()
                .map(|shared| (MemberCounter::default(), shared)),
        }
    }

    /// Removes the display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A reader that advances a [`Progress`].
pub struct ProgressReader<R> {
    inner: R,
    bar: ProgressBar,
    counter: Option<(MemberCounter, Arc<AtomicU64>)>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        if let Some((counter, shared)) = &mut self.counter {
            counter.feed(&buf[..n]);
            if counter.gave_up() {
                shared.store(NOT_COUNTED, Ordering::Relaxed);
                self.counter = None;
            } else {
                shared.store(counter.count(), Ordering::Relaxed);
            }
        }
        Ok(n)
    }
}
