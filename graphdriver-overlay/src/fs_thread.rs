//! Running a call with a working directory of its own, without touching the process's.
//!
//! The legacy `mount(2)` option string names layers by paths relative to the driver's home (that
//! is what keeps deep chains within one page). The kernel resolves them against the calling
//! thread's working directory, which normally is shared by the whole process: changing it would
//! race with every other thread. A fresh thread that unshares its filesystem context
//! (`unshare(CLONE_FS)`) gets a private working directory, changes it, makes the call and exits.
//!
//! This is the crate's only `unsafe`: rustix marks `unshare` unsafe because unsharing the file
//! descriptor table (`CLONE_FILES`) can break fd ownership across threads. `CLONE_FS` alone
//! copies only the root, working directory and umask, which no Rust invariant depends on.
#![allow(unsafe_code)]

use std::io;

use rustix::fd::BorrowedFd;
use rustix::thread::UnshareFlags;

/// Runs `call` on a short-lived thread whose working directory is `dir`, and returns its result.
/// The process's working directory is never changed.
pub(crate) fn run_in_dir<T: Send>(
    dir: BorrowedFd<'_>,
    call: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: CLONE_FS only gives this thread its own root/cwd/umask; the fd table
                // stays shared, so no fd is invalidated for other threads.
                unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }?;
                rustix::process::fchdir(dir)?;
                call()
            })
            .join()
            .map_err(|_| io::Error::other("the mount thread panicked"))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;

    #[test]
    fn call_sees_the_directory_and_the_process_cwd_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), b"x").unwrap();
        let before = std::env::current_dir().unwrap();
        let fd = std::fs::File::open(dir.path()).unwrap();
        let found = run_in_dir(fd.as_fd(), || Ok(std::path::Path::new("marker").exists())).unwrap();
        assert!(found);
        assert_eq!(std::env::current_dir().unwrap(), before);
    }
}
