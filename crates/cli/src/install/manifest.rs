//! etc/dbaudit.manifest: every file `install` writes whole, with the BLAKE3 of what it
//! wrote, so that `uninstall` removes a file only while it still holds that. A file edited
//! since (typically etc/dbaudit.cnf, where `action = lock` is set) is kept, and said so.
//!
//! Not listed: files install edits in place (ossec.conf, etc/local_decoder.xml), whose
//! marked blocks come out instead; the ossec.conf backup, compared with ossec.conf instead;
//! the key, which uninstall never removes. An installation made before manifests has none,
//! and uninstall then removes what it always did. An uninstall that leaves some listed
//! files alone (`--no-database`) leaves the manifest listing just those.
//!
//! One line per file: the hash in hex, two spaces, the absolute path; `#` starts a comment.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::layout::Ownership;
use super::plan::{Mode, Plan};
use crate::error::Failure;

/// Where the manifest lives under the OSSEC directory.
pub(crate) const RELATIVE_PATH: &str = "etc/dbaudit.manifest";

const HEADER: &str = "# Files written by `dbaudit install`, with their BLAKE3. `dbaudit uninstall` removes\n\
                      # each only while it is unchanged. Written by install; do not edit.\n";

/// The files install wrote, and what it wrote into each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    files: BTreeMap<PathBuf, blake3::Hash>,
}

impl Manifest {
    /// Reads the manifest at `path`, or None when there is none (an older installation).
    pub(crate) fn read(path: &Path) -> Result<Option<Manifest>, Failure> {
        match fs::read(path) {
            Ok(bytes) => Manifest::parse(&bytes, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Parses a manifest; `path` names it in errors.
    pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, Failure> {
        let mut files = BTreeMap::new();
        for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let entry = line.split_at_checked(64).and_then(|(hex, rest)| {
                let hash = blake3::Hash::from_hex(hex).ok()?;
                let file = PathBuf::from(OsStr::from_bytes(rest.strip_prefix(b"  ")?));
                file.is_absolute().then_some((file, hash))
            });
            let Some((file, hash)) = entry else {
                return Err(Failure::new(format!(
                    "{}:{}: not \"<64 hex digits>  <absolute path>\"; reinstall to write it anew, or delete it \
                     (uninstall then removes every file install may have written, edited or not); nothing was changed",
                    path.display(),
                    index + 1
                )));
            };
            files.insert(file, hash);
        }
        Ok(Manifest { files })
    }

    /// The manifest as written.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = HEADER.as_bytes().to_vec();
        for (file, hash) in &self.files {
            out.extend_from_slice(hash.to_hex().as_bytes());
            out.extend_from_slice(b"  ");
            out.extend_from_slice(file.as_os_str().as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The hash install recorded for `file`.
    pub(crate) fn hash_of(&self, file: &Path) -> Option<&blake3::Hash> {
        self.files.get(file)
    }
}

/// Plans the manifest an install leaves: the earlier one's entries for files that still
/// exist (a kept etc/dbaudit.cnf keeps the hash of what install first wrote), updated with
/// every file this install writes or found already as it would write it.
pub(super) fn plan_install(
    manifest_path: PathBuf,
    old: Option<&Manifest>,
    plan: &mut Plan,
    owner: Ownership,
) -> Result<(), Failure> {
    let mut files: BTreeMap<PathBuf, blake3::Hash> = old
        .map(|m| m.files.iter().filter(|(file, _)| file.exists()).map(|(f, h)| (f.clone(), *h)).collect())
        .unwrap_or_default();
    for (file, hash) in &plan.installed {
        // A newline would end the line early and mis-name the file.
        if file.as_os_str().as_bytes().contains(&b'\n') {
            return Err(Failure::new(format!(
                "{:?}: a file name holding a newline cannot be listed in {}; choose another path (nothing was changed)",
                file,
                manifest_path.display()
            )));
        }
        files.insert(file.clone(), *hash);
    }
    let text = Manifest { files }.to_bytes();
    plan.write(manifest_path, text, Mode::Set(0o640, owner), "what install wrote, with BLAKE3, for uninstall");
    Ok(())
}

/// Plans the removal of `file`, which install writes whole: without a manifest, as before
/// manifests (when it exists); with one, only while it holds what install wrote.
pub(super) fn plan_removal(plan: &mut Plan, manifest: Option<&Manifest>, file: PathBuf, what: &str) {
    let Some(manifest) = manifest else {
        plan.remove(file, what);
        return;
    };
    match manifest.hash_of(&file) {
        None => plan.keep(file, format!("{what}: not in {RELATIVE_PATH}, so not written by install")),
        Some(hash) => match fs::read(&file) {
            Ok(bytes) if blake3::hash(&bytes) == *hash => plan.remove(file, what),
            Ok(_) => plan
                .keep(file, format!("{what}: changed since install; delete it yourself when it is no longer wanted")),
            Err(_) => plan.remove(file, what),
        },
    }
}

/// Plans what becomes of the manifest: removed once every file it lists is removed or
/// kept; else (the database part skipped, or other options than install's) it goes on
/// listing the files this uninstall left alone, so that a later one still knows them.
pub(super) fn plan_uninstall(plan: &mut Plan, manifest: Option<&Manifest>, manifest_path: PathBuf) {
    let Some(manifest) = manifest else { return };
    let files: BTreeMap<PathBuf, blake3::Hash> = manifest
        .files
        .iter()
        .filter(|(file, _)| !plan.decides(file) && file.exists())
        .map(|(file, hash)| (file.clone(), *hash))
        .collect();
    if files.is_empty() {
        plan.remove(manifest_path, "the list of what install wrote");
        return;
    }
    let names: Vec<String> = files.keys().map(|f| f.display().to_string()).collect();
    plan.note(format!(
        "left alone, as this uninstall does not cover them (the database part skipped, or other options than \
         install's): {}",
        names.join(", ")
    ));
    plan.write(manifest_path, Manifest { files }.to_bytes(), Mode::Keep, "now lists only the files left alone");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_as_written_and_a_damaged_line_is_named() {
        let mut manifest = Manifest::default();
        manifest.files.insert(PathBuf::from("/var/ossec/bin/dbaudit"), blake3::hash(b"program"));
        manifest.files.insert(PathBuf::from("/etc/mysql/a file.cnf"), blake3::hash(b"config"));
        let bytes = manifest.to_bytes();
        assert_eq!(Manifest::parse(&bytes, Path::new("m")).unwrap(), manifest);

        let mut damaged = bytes.clone();
        damaged.extend_from_slice(b"0123  relative/path\n");
        let error = Manifest::parse(&damaged, Path::new("/x/etc/dbaudit.manifest")).unwrap_err().to_string();
        assert!(error.starts_with("/x/etc/dbaudit.manifest:5: "), "{error}");
    }
}
