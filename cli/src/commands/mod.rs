//! The commands, one module per family, over an opened store.

mod layers;
mod load;
mod rw;
mod status;

use std::path::{Path, PathBuf};

use layer_store::{ChainId, DriverChoice, Store, StoreOptions};

use crate::args::{Cli, Command, RwCommand};
use crate::error::CliError;
use crate::root;

/// What every command needs: where the store is, which driver, and how to print.
pub struct Ctx {
    /// The store's directory.
    pub root: PathBuf,
    /// The driver choice.
    pub driver: DriverChoice,
    /// Print JSON.
    pub json: bool,
}

impl Ctx {
    /// Opens the store for writing, creating it when missing. Problems the open found and
    /// could not fix are printed as warnings (they are store-fsck's to repair).
    pub fn open_writable(&self) -> Result<Store, CliError> {
        let store = Store::open(StoreOptions::new(&self.root).driver(self.driver.clone()))?;
        for problem in &store.recovery().problems {
            eprintln!("layer-store: warning: {problem} (run store-fsck)");
        }
        Ok(store)
    }

    /// Opens the store read-only, beside any live writer; `None` when there is no store yet.
    pub fn open_read_only(&self) -> Result<Option<Store>, CliError> {
        if !store_exists(&self.root) {
            return Ok(None);
        }
        let opts = StoreOptions::new(&self.root)
            .driver(self.driver.clone())
            .read_only(true);
        Ok(Some(Store::open(opts)?))
    }

    /// [`Ctx::open_read_only`] for a command about a named layer or mount: no store is an error
    /// naming `what`.
    pub fn open_existing(&self, what: &str) -> Result<Store, CliError> {
        self.open_read_only()?.ok_or_else(|| {
            CliError::Usage(format!(
                "{what}: there is no store at {} yet",
                self.root.display()
            ))
        })
    }
}

/// Whether a store exists at `root` (its database file is there).
pub fn store_exists(root: &Path) -> bool {
    root.join(metadata::DB_FILE).is_file()
}

/// Parses a ChainID given on the command line; 64 hex digits without `sha256:` are accepted.
pub fn parse_chain(text: &str) -> Result<ChainId, CliError> {
    let full = if text.len() == 64 && !text.contains(':') {
        format!("sha256:{text}")
    } else {
        text.to_owned()
    };
    ChainId::parse(&full).map_err(|e| CliError::Usage(format!("{text:?} is not a ChainID: {e}")))
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx {
        root: root::store_root(cli.root)?,
        driver: root::driver_choice(cli.driver),
        json: cli.json,
    };
    match cli.command {
        Command::Register { parent, file } => layers::register(&ctx, parent.as_deref(), file),
        Command::Load { image } => load::load(&ctx, &image),
        Command::Ls => layers::ls(&ctx),
        Command::Inspect { chain } => layers::inspect(&ctx, &chain),
        Command::Export {
            chain,
            from,
            output,
        } => layers::export(&ctx, &chain, from.as_deref(), output.as_deref()),
        Command::TarSplit { chain } => layers::tar_split(&ctx, &chain),
        Command::Rm { chain } => layers::rm(&ctx, &chain),
        Command::Status => status::status(&ctx),
        Command::Rw(rw) => match rw {
            RwCommand::Create(args) => rw::create(&ctx, &args.name, args.parent.as_deref()),
            RwCommand::Mount { name } => rw::mount(&ctx, &name),
            RwCommand::Unmount { name } => rw::unmount(&ctx, &name),
            RwCommand::Changes { name } => rw::changes(&ctx, &name),
            RwCommand::Diff { name, output } => rw::diff(&ctx, &name, output.as_deref()),
            RwCommand::Commit { name } => rw::commit(&ctx, &name),
            RwCommand::Rm { name } => rw::rm(&ctx, &name),
            RwCommand::Ls => rw::ls(&ctx),
        },
    }
}
