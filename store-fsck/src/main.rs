//! The `store-fsck` command: checks a layer store for every inconsistency and, with `--repair`,
//! repairs it safely. The logic lives in `layer_store::check`; this is the command line and the
//! report.
//!
//! Exit status as e2fsck: 0 clean, 1 errors corrected, 4 errors left uncorrected, 8 operational
//! error (no store, store in use, I/O failure), 16 usage error.
//!
//! # Output
//! Text: one line per finding, `<code> <object>: <message>`, then `note: ...` lines, then one
//! summary line `store-fsck: <root>: N layers, ...; N findings`. With `--repair`, each pass
//! prints its findings and its plan (`repair plan:` and `  [phase] <object>: <step>` lines,
//! `  [left] <code> <object>: <why>`) before acting, then `done:`/`FAILED:` lines, what is left,
//! and the summary.
//!
//! JSON (`--json`, one document): `root`, `driver`, `mode` (`check`|`repair`), `findings`
//! (`code`, `object`, `message`, `repairable`, `needs_force`), `counters` (`layers`,
//! `read_write_layers`, `driver_dirs`, `pending`, `mounts_seen`, `deep_layers`, `deep_bytes`,
//! `database_repaired`, `findings`), `notes`, `exit_status`, and for a repair `repair`:
//! `passes` (each `plan`, `left`, `outcomes` with `ok`/`error`), `corrected`, `remaining`
//! (findings of the re-check) and `remaining_counters`.

mod args;
mod report;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use layer_store::check::{CheckOptions, Checker, Progress, EXIT_OPERATIONAL};

use crate::args::Args;

/// Exit status for a command line that does not parse, as e2fsck's.
const EXIT_USAGE: u8 = 16;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let status = match run(&args) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("store-fsck: {message}");
            EXIT_OPERATIONAL
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX))
}

fn run(args: &Args) -> Result<i32, String> {
    let root = args::store_root(args.root.clone())?;
    let mut checker = Checker::open(&root, args.repair).map_err(|e| open_error(&root, e))?;
    let bar = progress_bar(args);
    let opts = CheckOptions {
        deep: args.deep,
        jobs: args.jobs.map_or(0, usize::from),
        max_depth: usize::from(args.max_depth),
        progress: bar.clone().map(|bar| {
            Arc::new(move |p: Progress| {
                bar.set_length(p.bytes_total.max(p.bytes_done));
                bar.set_position(p.bytes_done);
                bar.set_message(format!("{}/{} layers", p.layers_done, p.layers_total));
            }) as Arc<layer_store::check::ProgressFn>
        }),
    };
    let out = report::Printer::new(args.json, &root, checker.driver().name());
    if args.repair {
        let session = checker
            .repair(&opts, args.force, |report, plan| match &bar {
                // The plan goes to stdout between two redraws of the bar on stderr.
                Some(bar) => bar.suspend(|| out.plan(report, plan)),
                None => out.plan(report, plan),
            })
            .map_err(|e| e.to_string())?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let status = session.exit_status();
        out.session(&session, status);
        Ok(status)
    } else {
        let report = checker.check(&opts).map_err(|e| e.to_string())?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let status = report.exit_status();
        out.check(&report, status);
        Ok(status)
    }
}

/// Opening errors, with the one a repair meets most said plainly.
fn open_error(root: &std::path::Path, e: layer_store::StoreError) -> String {
    if let Some(metadata::Error::InUse { pid, .. }) = match &e {
        layer_store::StoreError::Metadata(m) => Some(m.as_ref()),
        _ => None,
    } {
        let by = pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"));
        return format!(
            "the store at {} is in use by {by}: --repair needs it to itself (stop the writer, \
             or run without --repair to check beside it)",
            root.display()
        );
    }
    format!("cannot open the store at {}: {e}", root.display())
}

/// A progress bar for `--deep`, on a terminal only.
fn progress_bar(args: &Args) -> Option<indicatif::ProgressBar> {
    if !args.deep || args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} deep check [{bar:30}] {bytes}/{total_bytes} {msg} ({bytes_per_sec})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}
