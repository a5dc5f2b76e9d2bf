//! The `layer-store` command.

fn main() {
    eprintln!("layer-store: not built yet");
    std::process::exit(2);
}
