//! Packing an app folder into a slug archive and unpacking one safely.

use crate::manifest::is_relative_inside;
use crate::{APP_DIR, Digest, MANIFEST_FILE, Manifest, SlugError};
use sha2::Digest as _;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Bounds applied while unpacking, so a hostile archive cannot fill the disk.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most bytes the unpacked files may add up to. Default: 2 GiB.
    pub max_unpacked_bytes: u64,
    /// Most entries the archive may hold. Default: 200,000.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked_bytes: 2 << 30,
            max_entries: 200_000,
        }
    }
}

/// A slug written to disk by [`pack`].
#[derive(Clone, Debug)]
pub struct PackedSlug {
    pub digest: Digest,
    pub path: PathBuf,
    /// Compressed size in bytes.
    pub size: u64,
}

/// Packs `app_dir` and `manifest` into a slug archive at `out`.
///
/// Symlinks are followed, so the slug holds plain files only.
pub fn pack(app_dir: &Path, manifest: &Manifest, out: &Path) -> Result<PackedSlug, SlugError> {
    manifest.validate()?;
    for (name, p) in &manifest.process_types {
        if !app_dir.join(&p.component).is_file() {
            return Err(SlugError::InvalidManifest(format!(
                "process type `{name}` names component `{}`, which is not a file in {}",
                p.component,
                app_dir.display()
            )));
        }
    }
    let file =
        fs::File::create(out).map_err(SlugError::io(format!("creating {}", out.display())))?;
    let hashing = HashingWriter {
        inner: io::BufWriter::new(file),
        hasher: sha2::Sha256::new(),
        written: 0,
    };
    let encoder = zstd::Encoder::new(hashing, 3).map_err(SlugError::io("starting zstd"))?;
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(true);

    let manifest_json = manifest.to_json();
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST_FILE, manifest_json.as_slice())
        .map_err(SlugError::io("writing the manifest"))?;
    tar.append_dir_all(APP_DIR, app_dir)
        .map_err(SlugError::io(format!("packing {}", app_dir.display())))?;

    let encoder = tar
        .into_inner()
        .map_err(SlugError::io("finishing the tar stream"))?;
    let mut hashing = encoder.finish().map_err(SlugError::io("finishing zstd"))?;
    hashing
        .inner
        .flush()
        .map_err(SlugError::io(format!("writing {}", out.display())))?;
    Ok(PackedSlug {
        digest: Digest::from_hasher(hashing.hasher),
        path: out.to_path_buf(),
        size: hashing.written,
    })
}

/// Unpacks the slug at `archive` into `dest` (which must not exist yet) and returns its manifest.
///
/// The digest, schema version and `must_understand` list are checked before any
/// file is written; the files go to a sibling temporary folder that is renamed
/// into place only when everything was written, so `dest` is either complete or absent.
pub fn unpack(
    archive: &Path,
    expected: &Digest,
    dest: &Path,
    limits: Limits,
) -> Result<Manifest, SlugError> {
    let actual = hash_file(archive)?;
    if &actual != expected {
        return Err(SlugError::DigestMismatch {
            expected: expected.clone(),
            actual,
        });
    }
    let file =
        fs::File::open(archive).map_err(SlugError::io(format!("opening {}", archive.display())))?;
    unpack_verified(file, dest, limits)
}

/// [`unpack`] for an archive held in memory.
pub fn unpack_bytes(
    bytes: &[u8],
    expected: &Digest,
    dest: &Path,
    limits: Limits,
) -> Result<Manifest, SlugError> {
    let actual = Digest::of(bytes);
    if &actual != expected {
        return Err(SlugError::DigestMismatch {
            expected: expected.clone(),
            actual,
        });
    }
    unpack_verified(bytes, dest, limits)
}

fn unpack_verified(reader: impl Read, dest: &Path, limits: Limits) -> Result<Manifest, SlugError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(SlugError::io(format!("creating {}", parent.display())))?;
    let staging = parent.join(format!(
        ".{}.partial-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("slug"),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)
        .map_err(SlugError::io(format!("creating {}", staging.display())))?;
    let result = extract(reader, &staging, limits).and_then(|manifest| {
        fs::rename(&staging, dest).map_err(SlugError::io(format!(
            "moving the slug into {}",
            dest.display()
        )))?;
        Ok(manifest)
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn extract(reader: impl Read, dest: &Path, limits: Limits) -> Result<Manifest, SlugError> {
    let decoder = zstd::Decoder::new(reader).map_err(|e| SlugError::Corrupt(e.to_string()))?;
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|e| SlugError::Corrupt(e.to_string()))?;
    let mut manifest = None;
    let mut total: u64 = 0;
    fs::create_dir_all(dest.join(APP_DIR)).map_err(SlugError::io("creating the app folder"))?;
    for (index, entry) in entries.enumerate() {
        if index as u64 >= limits.max_entries {
            return Err(SlugError::Corrupt(format!(
                "more than {} entries",
                limits.max_entries
            )));
        }
        let mut entry = entry.map_err(|e| SlugError::Corrupt(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| SlugError::Corrupt(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if index == 0 {
            if path != MANIFEST_FILE {
                return Err(SlugError::InvalidManifest(format!(
                    "the archive's first entry is `{path}`, expected `{MANIFEST_FILE}`"
                )));
            }
            let mut json = Vec::new();
            entry
                .by_ref()
                .take(1 << 20)
                .read_to_end(&mut json)
                .map_err(|e| SlugError::Corrupt(e.to_string()))?;
            manifest = Some(Manifest::from_json(&json)?);
            fs::write(dest.join(MANIFEST_FILE), &json)
                .map_err(SlugError::io("writing the manifest"))?;
            continue;
        }
        let unsafe_entry = |reason: &str| SlugError::UnsafeEntry {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if !is_relative_inside(&path) {
            return Err(unsafe_entry("absolute paths and `..` are not allowed"));
        }
        let relative = Path::new(&path);
        if !relative.starts_with(APP_DIR) {
            return Err(unsafe_entry("every file of a slug lives under `app/`"));
        }
        let target = dest.join(relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target)
                    .map_err(SlugError::io(format!("creating {}", target.display())))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry
                    .header()
                    .size()
                    .map_err(|e| SlugError::Corrupt(e.to_string()))?;
                total = total.saturating_add(size);
                if total > limits.max_unpacked_bytes {
                    return Err(SlugError::TooLarge {
                        size: total,
                        limit: limits.max_unpacked_bytes,
                    });
                }
                if let Some(dir) = target.parent() {
                    fs::create_dir_all(dir)
                        .map_err(SlugError::io(format!("creating {}", dir.display())))?;
                }
                let mode = entry.header().mode().unwrap_or(0o644);
                let mut out = fs::File::create(&target)
                    .map_err(SlugError::io(format!("writing {}", target.display())))?;
                // Copy at most the declared size: a lying header cannot grow the file.
                let copied = io::copy(&mut entry.by_ref().take(size), &mut out)
                    .map_err(|e| SlugError::Corrupt(e.to_string()))?;
                if copied != size {
                    return Err(SlugError::Corrupt(format!("`{path}` is truncated")));
                }
                set_mode(&target, if mode & 0o111 != 0 { 0o755 } else { 0o644 })?;
            }
            other => {
                return Err(unsafe_entry(&format!(
                    "entries of type {other:?} (links, devices, fifos) are not allowed in a slug"
                )));
            }
        }
    }
    manifest
        .ok_or_else(|| SlugError::InvalidManifest(format!("the archive has no `{MANIFEST_FILE}`")))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), SlugError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(SlugError::io(format!(
        "setting the mode of {}",
        path.display()
    )))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), SlugError> {
    Ok(())
}

fn hash_file(path: &Path) -> Result<Digest, SlugError> {
    let mut file =
        fs::File::open(path).map_err(SlugError::io(format!("opening {}", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut file, &mut hasher)
        .map_err(SlugError::io(format!("reading {}", path.display())))?;
    Ok(Digest::from_hasher(hasher))
}

struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProcessKind, ProcessType};
    use std::collections::BTreeMap;

    fn sample_manifest() -> Manifest {
        let mut pts = BTreeMap::new();
        pts.insert(
            "web".to_string(),
            ProcessType {
                component: "bin/app.wasm".into(),
                args: vec!["-v".into()],
                kind: ProcessKind::Http,
            },
        );
        Manifest::new(pts)
    }

    fn sample_app(dir: &Path) {
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app.wasm"), b"\0asm fake").unwrap();
        fs::write(dir.join("README"), b"hello").unwrap();
    }

    #[test]
    fn pack_then_unpack_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        sample_app(&tmp.path().join("src"));
        let packed = pack(
            &tmp.path().join("src"),
            &sample_manifest(),
            &tmp.path().join("s.tar.zst"),
        )
        .unwrap();
        assert_eq!(packed.digest, hash_file(&packed.path).unwrap());
        let m = unpack(
            &packed.path,
            &packed.digest,
            &tmp.path().join("out"),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(m, sample_manifest());
        assert_eq!(
            fs::read(tmp.path().join("out/app/README")).unwrap(),
            b"hello"
        );
        // Packing is deterministic: the same tree gives the same address.
        let again = pack(
            &tmp.path().join("src"),
            &sample_manifest(),
            &tmp.path().join("t.tar.zst"),
        )
        .unwrap();
        assert_eq!(again.digest, packed.digest);
    }

    #[test]
    fn wrong_digest_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        sample_app(&tmp.path().join("src"));
        let packed = pack(
            &tmp.path().join("src"),
            &sample_manifest(),
            &tmp.path().join("s.tar.zst"),
        )
        .unwrap();
        let wrong = Digest::of(b"other");
        let err = unpack(
            &packed.path,
            &wrong,
            &tmp.path().join("out"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(!tmp.path().join("out").exists());
    }

    #[test]
    fn missing_component_is_refused_at_pack() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("src")).unwrap();
        let err = pack(
            &tmp.path().join("src"),
            &sample_manifest(),
            &tmp.path().join("s"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bin/app.wasm"), "{err}");
    }

    fn hostile(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let json = sample_manifest().to_json();
        let mut h = tar::Header::new_gnu();
        h.set_size(json.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, MANIFEST_FILE, json.as_slice())
            .unwrap();
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            // set_path refuses `..`; write the raw name like a hostile tool would.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        zstd::encode_all(tar.into_inner().unwrap().as_slice(), 1).unwrap()
    }

    #[test]
    fn hostile_entries_are_refused_and_leave_nothing() {
        type Entry<'a> = (&'a str, tar::EntryType, &'a [u8]);
        let cases: &[(&[Entry], &str)] = &[
            (
                &[("app/../../evil", tar::EntryType::Regular, b"x")],
                "`..` are not allowed",
            ),
            (
                &[("/etc/evil", tar::EntryType::Regular, b"x")],
                "absolute paths",
            ),
            (
                &[("elsewhere/x", tar::EntryType::Regular, b"x")],
                "under `app/`",
            ),
            (
                &[("app/link", tar::EntryType::Symlink, b"")],
                "links, devices",
            ),
            (&[("app/dev", tar::EntryType::Char, b"")], "links, devices"),
        ];
        for (entries, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let bytes = hostile(entries);
            let err = unpack_bytes(
                &bytes,
                &Digest::of(&bytes),
                &tmp.path().join("out"),
                Limits::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(want), "{err} should contain {want}");
            assert_eq!(
                fs::read_dir(tmp.path()).unwrap().count(),
                0,
                "nothing may be left behind"
            );
        }
    }

    #[test]
    fn size_limit_and_truncation() {
        let tmp = tempfile::tempdir().unwrap();
        let big = vec![0u8; 4096];
        let bytes = hostile(&[("app/big", tar::EntryType::Regular, &big)]);
        let limits = Limits {
            max_unpacked_bytes: 1000,
            ..Limits::default()
        };
        let err =
            unpack_bytes(&bytes, &Digest::of(&bytes), &tmp.path().join("a"), limits).unwrap_err();
        assert!(matches!(err, SlugError::TooLarge { .. }), "{err}");

        let cut = &bytes[..bytes.len() / 2];
        let err = unpack_bytes(
            cut,
            &Digest::of(cut),
            &tmp.path().join("b"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(!tmp.path().join("b").exists());
    }
}
