//! Owner-only files: the data directory holds shards, executions and encrypted
//! credentials, so nothing in it may be readable by other users (0700 directories,
//! 0600 files), whoever creates it (cmap itself or sled).

use std::io;
use std::path::{Path, PathBuf};

/// How deep [`tighten`] looks below the data directory (sled keeps `blobs/`, the
/// keyring `keys/`: one level; the margin covers a future layout, the cap keeps a
/// symlink-free but deep tree someone put there from making the walk unbounded).
const MAX_DEPTH: usize = 4;

/// Makes every file and directory this process creates from now on owner-only, as
/// PostgreSQL's server does for its data directory: sled creates files whenever it
/// needs to (its database file, snapshots at open, blob files for large pages at any
/// time) and takes no mode, so the process umask is the one place that governs them.
/// Only ever adds restrictions (`umask | 077`); the process keeps it.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        // SAFETY: umask only swaps the process's file-creation mask and cannot fail.
        // Between the two calls another thread creating a file gets mask 077, which is
        // only more restrictive than what it would get otherwise.
        unsafe {
            let old = libc::umask(0o077);
            libc::umask(old | 0o077);
        }
    }
}

/// Creates `dir` (and missing parents) with mode 0700.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Removes group and other permissions from `dir` and everything below it (symlinks
/// are neither followed nor changed). Returns what it changed, so the caller can say
/// so once.
pub fn tighten(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    #[cfg(unix)]
    tighten_below(dir, 0, &mut changed)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(changed)
}

#[cfg(unix)]
fn tighten_below(path: &Path, depth: usize, changed: &mut Vec<PathBuf>) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        changed.push(path.to_path_buf());
    }
    if meta.is_dir() && depth < MAX_DEPTH {
        for entry in std::fs::read_dir(path)? {
            tighten_below(&entry?.path(), depth + 1, changed)?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn tighten_drops_group_and_other_bits_below_and_skips_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("blobs")).unwrap();
        std::fs::write(dir.join("db"), b"x").unwrap();
        std::fs::write(dir.join("blobs/1"), b"x").unwrap();
        let outside = root.path().join("outside");
        std::fs::write(&outside, b"x").unwrap();
        for (p, m) in [
            (&dir, 0o755),
            (&dir.join("blobs"), 0o775),
            (&dir.join("db"), 0o644),
            (&dir.join("blobs/1"), 0o666),
            (&outside, 0o644),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();

        let mut changed = tighten(&dir).unwrap();
        changed.sort();
        assert_eq!(
            changed,
            [
                dir.clone(),
                dir.join("blobs"),
                dir.join("blobs/1"),
                dir.join("db")
            ]
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("blobs")), 0o700);
        assert_eq!(mode(&dir.join("db")), 0o600);
        assert_eq!(mode(&dir.join("blobs/1")), 0o600);
        // What a symlink points to is not the data directory's.
        assert_eq!(mode(&outside), 0o644);
        // Already private: nothing to say the second time.
        assert_eq!(tighten(&dir).unwrap(), Vec::<PathBuf>::new());
    }
}
