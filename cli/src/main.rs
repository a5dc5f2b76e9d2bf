//! The `layer-store` command: the layer store's main job from a shell (see `shared/DESIGN.md`,
//! "The command line", and the README for the contract and the JSON output).

mod args;
mod commands;
mod error;
mod image;
mod output;
mod progress;
mod root;
mod tar_count;
mod write_out;

use clap::Parser as _;

fn main() {
    let cli = args::Cli::parse();
    if let Err(err) = commands::run(cli) {
        if err.is_broken_pipe() {
            // 128 + SIGPIPE, what a shell reports for a process the signal ended.
            std::process::exit(141);
        }
        eprintln!("layer-store: {}", error::one_line(&err));
        std::process::exit(err.exit_code());
    }
}
