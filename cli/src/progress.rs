//! Progress on stderr for long work (register, load, export), shown only when stderr is a
//! terminal: a script reading the command's output never sees it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress is shown: stderr is a terminal (and `LAYER_STORE_PROGRESS=0` does not turn it
/// off).
fn enabled() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("LAYER_STORE_PROGRESS").is_none_or(|v| v != "0")
}

/// A byte counter labelled `message`: with a bar and an ETA when `total` is known, else bytes
/// and rate. Hidden (every call a no-op) when stderr is not a terminal.
pub fn bytes(message: impl Into<String>, total: Option<u64>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            style("{spinner} {msg} {binary_bytes} {binary_bytes_per_sec} {elapsed}"),
        ),
    };
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
