//! Where the command line may write, and how.
//!
//! Three rules keep every output from destroying what a user wrote:
//!
//! 1. **Never into the inputs.** No output lands on an input file or inside a
//!    directory that scenarios were read from (nor `sim-scenarios/`), judged
//!    on canonical paths, after symlinks.
//! 2. **Never over a file loopsim did not write.** Each output directory has
//!    a sidecar, [`MANIFEST`], listing the files loopsim wrote there with a
//!    hash of their bytes. An existing file is replaced only when the
//!    manifest lists it with the hash it still has; anything else (a file
//!    written by someone else, or edited since) is refused. No marker inside
//!    a file decides it: anyone can write a marker.
//! 3. **Atomically.** Bytes go to a temporary file in the same directory,
//!    then one rename; on any error the temporary file is removed and the
//!    message names the real output path.
//!
//! Any refusal is a [`UsageError`]: exit code 2.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// The sidecar in an output directory listing what loopsim wrote there.
pub const MANIFEST: &str = ".loopsim-manifest";

const MANIFEST_HEADER: &str = "# loopsim manifest: files loopsim wrote in this directory, each with an FNV-1a hash of its bytes.\n# loopsim replaces a file here only if it is listed with the hash it still has.\n";

/// A bad output path or a refused write: the user's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn refuse(msg: String) -> anyhow::Error {
    UsageError(msg).into()
}

/// The places outputs must stay out of.
#[derive(Debug, Default)]
pub struct Protected {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Protected {
    /// Protects every input file, the directory each was read from, every
    /// directory given as input, and `sim-scenarios/` when it exists.
    pub fn new(inputs: &[PathBuf], files: &[PathBuf]) -> Protected {
        let mut p = Protected::default();
        let default = Path::new("sim-scenarios");
        for path in inputs.iter().map(PathBuf::as_path).chain([default]) {
            if let Ok(c) = path.canonicalize() {
                if c.is_dir() {
                    p.dirs.push(c);
                } else {
                    p.files.push(c);
                }
            }
        }
        for f in files {
            if let Ok(c) = f.canonicalize() {
                if let Some(d) = c.parent() {
                    p.dirs.push(d.to_path_buf());
                }
                p.files.push(c);
            }
        }
        p.dirs.sort();
        p.dirs.dedup();
        p
    }

    /// Refuses `path` (to be written, or an output directory) if it is, or
    /// resolves to, an input or a place inside a scenarios directory.
    pub fn check(&self, path: &Path) -> anyhow::Result<()> {
        let real = resolve(path)
            .map_err(|e| refuse(format!("{}: unusable output path: {e}", path.display())))?;
        if self.files.contains(&real) {
            return Err(refuse(format!(
                "{}: is an input file; refusing to write over it (choose another output path)",
                path.display()
            )));
        }
        if let Some(d) = self.dirs.iter().find(|d| real.starts_with(d)) {
            return Err(refuse(format!(
                "{}: is inside the scenarios directory {}; loopsim never writes there (choose an output path outside it)",
                path.display(),
                d.display()
            )));
        }
        Ok(())
    }
}

/// `path` made absolute with symlinks resolved: the longest existing
/// prefix is canonicalised and the rest appended (it cannot contain `..`).
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        // A dangling symlink exists as a link: resolve it as far as it goes.
        if existing.symlink_metadata().is_ok() {
            break;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut real = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    for part in rest.iter().rev() {
        if part == ".." || part == "." {
            return Err(std::io::Error::other(
                "`..` after a path that does not exist",
            ));
        }
        real.push(part);
    }
    Ok(real)
}

/// One output directory and its manifest.
#[derive(Debug)]
pub struct OutDir {
    dir: PathBuf,
    listed: BTreeMap<String, u64>,
    changed: bool,
}

impl OutDir {
    /// Opens `dir` (it need not exist yet) after checking it against
    /// `protected`.
    pub fn open(dir: &Path, protected: &Protected) -> anyhow::Result<OutDir> {
        protected.check(dir)?;
        if dir.exists() && !dir.is_dir() {
            return Err(refuse(format!(
                "{}: exists and is not a directory",
                dir.display()
            )));
        }
        let listed = match std::fs::read_to_string(dir.join(MANIFEST)) {
            Ok(text) => parse_manifest(&text).ok_or_else(|| {
                refuse(format!(
                    "{}: is not a loopsim manifest; remove it or choose another output directory",
                    dir.join(MANIFEST).display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(refuse(format!(
                    "{}: cannot read: {e}",
                    dir.join(MANIFEST).display()
                )));
            }
        };
        Ok(OutDir {
            dir: dir.to_path_buf(),
            listed,
            changed: false,
        })
    }

    /// The output directory for a single file `path` (its parent).
    pub fn for_file(path: &Path, protected: &Protected) -> anyhow::Result<(OutDir, String)> {
        protected.check(path)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| *n != MANIFEST)
            .ok_or_else(|| refuse(format!("{}: not a usable file name", path.display())))?
            .to_string();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok((OutDir::open(dir, protected)?, name))
    }

    /// The bytes at `rel` now, if loopsim may replace them: `Ok(None)` when
    /// there is no file.
    fn existing(&self, rel: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.dir.join(rel);
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(refuse(format!("{}: {e}", path.display()))),
        };
        if !meta.is_file() {
            return Err(refuse(format!(
                "{}: exists and is not a regular file (a directory, link or device); refusing to replace it",
                path.display()
            )));
        }
        let old = std::fs::read(&path).map_err(|e| {
            refuse(format!(
                "{}: cannot read the existing file: {e}",
                path.display()
            ))
        })?;
        match self.listed.get(rel) {
            Some(h) if *h == fnv1a(&old) => Ok(Some(old)),
            Some(_) => Err(refuse(format!(
                "{}: was changed since loopsim wrote it; refusing to overwrite it (move it away or choose another output path)",
                path.display()
            ))),
            None => Err(refuse(format!(
                "{}: exists and was not written by loopsim; refusing to overwrite it (move it away or choose another output path)",
                path.display()
            ))),
        }
    }

    /// Checks, before any work, that `rel` could be written.
    pub fn check_writable(&self, rel: &str) -> anyhow::Result<()> {
        check_rel(rel)?;
        self.existing(rel).map(|_| ())
    }

    /// Writes `bytes` at `rel` (relative, plain components) unless the file
    /// already holds them; returns whether it wrote.
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> anyhow::Result<bool> {
        check_rel(rel)?;
        if self.existing(rel)?.as_deref() == Some(bytes) {
            return Ok(false);
        }
        let path = self.dir.join(rel);
        write_atomic(&path, bytes)?;
        self.listed.insert(rel.to_string(), fnv1a(bytes));
        self.changed = true;
        Ok(true)
    }

    /// Writes every file, then saves the manifest — also when a write
    /// fails, so that the files already written stay loopsim's to replace.
    pub fn write_all<'a>(
        mut self,
        files: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
    ) -> anyhow::Result<()> {
        let mut result = Ok(());
        for (rel, bytes) in files {
            if let Err(e) = self.write(rel, bytes) {
                result = Err(e);
                break;
            }
        }
        let saved = self.finish();
        result.and(saved)
    }

    /// Saves the manifest if anything was written.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.changed {
            write_atomic(
                &self.dir.join(MANIFEST),
                render_manifest(&self.listed).as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// A relative output path must be plain names: no `..`, no root, no `.`
/// prefix tricks, no control characters.
fn check_rel(rel: &str) -> anyhow::Result<()> {
    let p = Path::new(rel);
    let plain = !rel.is_empty()
        && rel != MANIFEST
        && !rel.chars().any(char::is_control)
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(refuse(format!(
            "{rel:?}: not a plain relative file name; refusing to write it"
        )))
    }
}

fn render_manifest(listed: &BTreeMap<String, u64>) -> String {
    let mut s = MANIFEST_HEADER.to_string();
    for (rel, h) in listed {
        s.push_str(&format!("{h:016x} {rel}\n"));
    }
    s
}

fn parse_manifest(text: &str) -> Option<BTreeMap<String, u64>> {
    if !text.starts_with(MANIFEST_HEADER) {
        return None;
    }
    let mut out = BTreeMap::new();
    for line in text[MANIFEST_HEADER.len()..].lines() {
        let (h, rel) = line.split_once(' ')?;
        out.insert(rel.to_string(), u64::from_str_radix(h, 16).ok()?);
    }
    Some(out)
}

/// FNV-1a, 64 bits: enough to tell whether a file changed since loopsim
/// wrote it (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename. The temporary file is removed on every error; errors name
/// `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let fail = |what: &str, e: &std::io::Error| {
        refuse(format!(
            "{}: cannot {what}: {}",
            path.display(),
            os_error(e)
        ))
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail("create its directory", &e))?;
    // Dropping `tmp` on any error below removes the temporary file.
    let mut builder = tempfile::Builder::new();
    builder.prefix(".loopsim-").suffix(".tmp");
    // An ordinary output file, not the temporary file's owner-only default.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file beside it", &e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| fail("write", &e))?;
    tmp.persist(path).map_err(|e| fail("replace", &e.error))?;
    Ok(())
}

/// The operating system's words for `e`, without the temporary path some
/// errors carry (messages name the real output path).
fn os_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        // tempfile's errors end "at path <the temporary file>".
        None => e
            .to_string()
            .split(" at path ")
            .next()
            .unwrap_or("")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let mut m = BTreeMap::new();
        m.insert("a/b.svg".to_string(), 7);
        m.insert("c.txt".to_string(), u64::MAX);
        assert_eq!(parse_manifest(&render_manifest(&m)), Some(m));
    }

    #[test]
    fn relative_paths_must_be_plain() {
        for bad in ["", "../x", "/abs", "a/../../b", "a\u{7}b", "./x", MANIFEST] {
            assert!(check_rel(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_rel("scenario/variant.svg").is_ok());
    }
}
