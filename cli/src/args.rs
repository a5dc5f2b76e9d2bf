//! The command line, as `shared/DESIGN.md` ("The command line") fixes it: scripts depend on
//! these names, so they change only with that contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A content-addressed store of container image layers.
#[derive(Debug, Parser)]
#[command(
    name = "layer-store",
    version,
    about = "A content-addressed store of container image layers",
    after_help = "Examples:\n  \
        layer-store load busybox.tar\n  \
        tar -C /usr/share -c doc | layer-store register\n  \
        layer-store --json ls\n\n\
        The store is at --root, else $LAYER_STORE_ROOT, else /var/lib/layer-store (root) or\n\
        $XDG_DATA_HOME/layer-store (~/.local/share/layer-store) for other users."
)]
pub struct Cli {
    /// The store's directory [default: $LAYER_STORE_ROOT, else a per-user data directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The graph driver [default: the store's own; for a new store overlay where it works, else vfs]
    #[arg(long, global = true, value_enum)]
    pub driver: Option<DriverArg>,
    /// Print JSON (one document per command) instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A graph driver by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    /// overlayfs: layers stacked by the kernel (needs root and overlayfs support)
    Overlay,
    /// plain directories, each layer a full copy (works anywhere)
    Vfs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register a layer tar (plain, gzip or zstd) and print its ChainID
    #[command(after_help = "Examples:\n  \
        layer-store register base.tar\n  \
        layer-store register --parent sha256:3f5a... app.tar.gz\n  \
        tar -C rootfs -c . | layer-store register -")]
    Register {
        /// The ChainID of the layer to register on top of
        #[arg(long, value_name = "CHAIN")]
        parent: Option<String>,
        /// The layer tar; `-` or nothing reads standard input
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// Load an image (docker save archive or OCI layout, tar or directory); print each layer's
    /// ChainID, top last
    #[command(after_help = "Examples:\n  \
        docker save busybox > busybox.tar && layer-store load busybox.tar\n  \
        layer-store load ./oci-layout-dir\n\n\
        Each blob is checked against its digest and each layer against the config's\n\
        rootfs.diff_ids; an image that does not verify is refused and nothing of it stays.")]
    Load {
        /// The image: a tar (plain, gzip or zstd) or a directory
        #[arg(value_name = "FILE|DIR")]
        image: PathBuf,
    },
    /// List the layers, one a line (JSON: an array of objects as `register --json` prints)
    #[command(
        after_help = "Examples:\n  layer-store ls\n  layer-store --json ls | jq '.[].chain_id'"
    )]
    Ls,
    /// Print one layer's facts as a JSON object, the driver's metadata included
    #[command(after_help = "Example:\n  layer-store inspect sha256:3f5a...")]
    Inspect {
        /// The layer's ChainID
        #[arg(value_name = "CHAIN")]
        chain: String,
    },
    /// Write a layer's tar, byte for byte as registered (verified against its DiffID)
    #[command(after_help = "Examples:\n  \
        layer-store export sha256:3f5a... -o layer.tar\n  \
        layer-store export sha256:9c1e... --from sha256:3f5a... | tar -t\n\n\
        With --from, the tars of the layers above PARENT up to CHAIN are joined into one.")]
    Export {
        /// The layer's ChainID
        #[arg(value_name = "CHAIN")]
        chain: String,
        /// Export only the layers above this ancestor (exclusive), joined into one tar
        #[arg(long, value_name = "PARENT")]
        from: Option<String>,
        /// Write to FILE (created only when the export verifies) instead of standard output
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print a layer's stored tar-split data as Go tar-split JSON lines
    #[command(
        name = "tar-split",
        after_help = "Example:\n  layer-store tar-split sha256:3f5a... | gzip > layer.tar-split.gz"
    )]
    TarSplit {
        /// The layer's ChainID
        #[arg(value_name = "CHAIN")]
        chain: String,
    },
    /// Remove a layer (an error if layers or read-write layers stand on it)
    #[command(after_help = "Example:\n  layer-store rm sha256:9c1e...\n\n\
        Only the named layer is removed; its parent stays until removed in turn.")]
    Rm {
        /// The layer's ChainID
        #[arg(value_name = "CHAIN")]
        chain: String,
    },
    /// Read-write layers: a writable layer on top of an image layer
    #[command(
        subcommand,
        after_help = "Example:\n  layer-store rw create web --parent sha256:9c1e... && layer-store rw mount web"
    )]
    Rw(RwCommand),
    /// Print the driver's status and the store's figures
    #[command(after_help = "Example:\n  layer-store status")]
    Status,
}

/// The read-write layer commands.
#[derive(Debug, Subcommand)]
pub enum RwCommand {
    /// Create a read-write layer NAME on top of a layer
    #[command(after_help = "Example:\n  layer-store rw create web --parent sha256:9c1e...")]
    Create(RwCreate),
    /// Mount a read-write layer and print the merged directory
    #[command(after_help = "Example:\n  cd \"$(layer-store rw mount web)\"\n\n\
        Mounting a mounted layer prints its directory again; the mount stays after the\n\
        command exits, until `rw unmount`.")]
    Mount {
        /// The read-write layer's name
        name: String,
    },
    /// Unmount a read-write layer
    #[command(after_help = "Example:\n  layer-store rw unmount web")]
    Unmount {
        /// The read-write layer's name
        name: String,
    },
    /// List what changed in a read-write layer (A added, C changed, D deleted)
    #[command(after_help = "Example:\n  layer-store rw changes web")]
    Changes {
        /// The read-write layer's name
        name: String,
    },
    /// Write a tar of what changed in a read-write layer (OCI whiteouts for deletions)
    #[command(after_help = "Example:\n  layer-store rw diff web -o web-changes.tar")]
    Diff {
        /// The read-write layer's name
        name: String,
        /// Write to FILE instead of standard output
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Register what changed in a read-write layer as a new layer on its parent; print its ChainID
    #[command(after_help = "Example:\n  layer-store rw commit web")]
    Commit {
        /// The read-write layer's name
        name: String,
    },
    /// Remove a read-write layer (an error while it is mounted)
    #[command(after_help = "Example:\n  layer-store rw unmount web && layer-store rw rm web")]
    Rm {
        /// The read-write layer's name
        name: String,
    },
    /// List the read-write layers
    #[command(after_help = "Example:\n  layer-store --json rw ls")]
    Ls,
}

/// `rw create` arguments.
#[derive(Debug, Args)]
pub struct RwCreate {
    /// The read-write layer's name
    pub name: String,
    /// The ChainID of the layer it stands on (none: an empty base)
    #[arg(long, value_name = "CHAIN")]
    pub parent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from([
            "layer-store",
            "--root",
            "/x",
            "export",
            "sha256:aa",
            "--from",
            "sha256:bb",
            "-o",
            "out.tar",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/x")));
        assert!(cli.json);
        assert!(matches!(
            cli.command,
            Command::Export {
                from: Some(_),
                output: Some(_),
                ..
            }
        ));
        let cli = Cli::try_parse_from([
            "layer-store",
            "--driver",
            "vfs",
            "rw",
            "create",
            "n",
            "--parent",
            "p",
        ])
        .unwrap();
        assert_eq!(cli.driver, Some(DriverArg::Vfs));
        assert!(matches!(cli.command, Command::Rw(RwCommand::Create(_))));
    }

    #[test]
    fn every_subcommand_help_has_an_example() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut stack: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
        while let Some(sub) = stack.pop() {
            // clap's `help` subcommand mirrors the whole tree, without help texts.
            if sub.get_name() == "help" {
                continue;
            }
            stack.extend(sub.get_subcommands().cloned());
            let after = sub
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                after.contains("layer-store"),
                "{} has no example",
                sub.get_name()
            );
        }
    }
}
