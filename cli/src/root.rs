//! Where the store is and which driver it uses, when the command line does not say.

use std::path::PathBuf;

use layer_store::DriverChoice;

use crate::args::DriverArg;
use crate::error::CliError;

/// The environment variable naming the store's directory.
pub const ROOT_ENV: &str = "LAYER_STORE_ROOT";
/// The system-wide store, for root.
pub const SYSTEM_ROOT: &str = "/var/lib/layer-store";

/// The store's directory: `--root`, else `$LAYER_STORE_ROOT`, else `/var/lib/layer-store` for
/// root, else `$XDG_DATA_HOME/layer-store`, else `~/.local/share/layer-store`.
pub fn store_root(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let is_root = rustix::process::geteuid().is_root();
    resolve_root(
        flag,
        env(ROOT_ENV),
        is_root,
        env("XDG_DATA_HOME"),
        env("HOME"),
    )
}

fn resolve_root(
    flag: Option<PathBuf>,
    env_root: Option<std::ffi::OsString>,
    is_root: bool,
    xdg_data_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, CliError> {
    if let Some(root) = flag.or(env_root.map(PathBuf::from)) {
        return Ok(root);
    }
    if is_root {
        return Ok(PathBuf::from(SYSTEM_ROOT));
    }
    // The XDG spec says relative values are to be ignored.
    if let Some(xdg) = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(xdg.join("layer-store"));
    }
    match home {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/layer-store")),
        None => Err(CliError::Usage(
            "no store directory: pass --root DIR or set LAYER_STORE_ROOT (HOME is not set)"
                .to_owned(),
        )),
    }
}

/// The driver choice for `--driver`: the named driver, else the store's own (or, for a new
/// store, overlay where it works, else vfs).
pub fn driver_choice(flag: Option<DriverArg>) -> DriverChoice {
    match flag {
        Some(DriverArg::Overlay) => DriverChoice::Overlay,
        Some(DriverArg::Vfs) => DriverChoice::Vfs,
        None => DriverChoice::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<std::ffi::OsString> {
        Some(s.into())
    }

    #[test]
    fn root_defaults_in_order() {
        let r = |flag: Option<&str>, env: Option<&str>, is_root, xdg: Option<&str>, home| {
            resolve_root(
                flag.map(PathBuf::from),
                env.and_then(os),
                is_root,
                xdg.and_then(os),
                home,
            )
            .map(|p| p.display().to_string())
        };
        assert_eq!(r(Some("/f"), Some("/e"), true, None, None).unwrap(), "/f");
        assert_eq!(r(None, Some("/e"), true, None, None).unwrap(), "/e");
        assert_eq!(
            r(None, None, true, Some("/x"), os("/h")).unwrap(),
            SYSTEM_ROOT
        );
        assert_eq!(
            r(None, None, false, Some("/x"), os("/h")).unwrap(),
            "/x/layer-store"
        );
        assert_eq!(
            r(None, None, false, Some("rel"), os("/h")).unwrap(),
            "/h/.local/share/layer-store"
        );
        assert!(r(None, None, false, None, None).is_err());
    }
}
