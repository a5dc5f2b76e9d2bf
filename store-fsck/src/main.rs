//! The `store-fsck` command.

fn main() {
    eprintln!("store-fsck: not built yet");
    std::process::exit(8);
}
