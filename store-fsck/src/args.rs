//! The command line: `store-fsck [--root DIR] [--deep] [--repair [--force]] [--json] [--jobs N]`.

use std::path::PathBuf;

use clap::Parser;

/// The environment variable naming the store, as the `layer-store` command reads it.
const ROOT_ENV: &str = "LAYER_STORE_ROOT";
/// The system-wide store, for root.
const SYSTEM_ROOT: &str = "/var/lib/layer-store";

/// Checks a layer store for every inconsistency and, with --repair, repairs it safely.
#[derive(Debug, Parser)]
#[command(
    name = "store-fsck",
    version,
    after_help = "Exit status as e2fsck: 0 clean, 1 errors corrected, 4 errors left uncorrected, \
                  8 operational error, 16 usage error.\n\
                  The store is at --root, else $LAYER_STORE_ROOT, else /var/lib/layer-store (root) \
                  or $XDG_DATA_HOME/layer-store (~/.local/share/layer-store) for other users."
)]
pub struct Args {
    /// The store's directory [default: $LAYER_STORE_ROOT, else a per-user data directory]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also reassemble every layer's tar from its tar-split and files and compare it with the
    /// DiffID (reads every file)
    #[arg(long)]
    pub deep: bool,
    /// Repair what can be repaired safely (needs the store to itself); prints the plan first
    #[arg(long)]
    pub repair: bool,
    /// With --repair: also remove the layers and read-write layers standing on a damaged layer
    #[arg(long, requires = "repair")]
    pub force: bool,
    /// Print one JSON document (findings, counters, repair) instead of text
    #[arg(long)]
    pub json: bool,
    /// The deepest chain that is not a finding (for stores configured deeper than Docker's)
    #[arg(long, value_name = "N", default_value_t = 125, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_depth: u16,
    /// Threads for --deep [default: one per CPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// The store's directory: `--root`, else `$LAYER_STORE_ROOT`, else `/var/lib/layer-store` for
/// root, else `$XDG_DATA_HOME/layer-store`, else `~/.local/share/layer-store`.
pub fn store_root(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(root) = flag.or_else(|| env(ROOT_ENV).map(PathBuf::from)) {
        return Ok(root);
    }
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from(SYSTEM_ROOT));
    }
    if let Some(data) = env("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("layer-store"));
    }
    match env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/layer-store")),
        None => Err(
            "no store directory: pass --root DIR or set LAYER_STORE_ROOT (HOME is not set)".into(),
        ),
    }
}
