//! Source archives: what `kumo deploy` uploads and what a build's
//! `source_blob.url` points at. A tar archive, gzip- or zstd-compressed or
//! plain, unpacked safely: no absolute paths, no `..`, no link that leads
//! outside the tree, no device files, and bounded in size and entries, so a
//! hostile archive can neither escape nor fill the disk. Nothing is left
//! behind when it is refused.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Bounds on an unpacked source.
#[derive(Clone, Copy, Debug)]
pub struct SourceLimits {
    /// Most bytes the files may add up to. Default: 2 GiB.
    pub max_bytes: u64,
    /// Most entries. Default: 200,000.
    pub max_entries: u64,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_bytes: 2 << 30,
            max_entries: 200_000,
        }
    }
}

/// Why a source archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "the source archive is not a tar archive (plain, .tar.gz or .tar.zst) or is corrupt: {0}"
    )]
    Corrupt(String),
    #[error("the source archive's entry `{path}` is refused: {reason}")]
    Unsafe { path: String, reason: String },
    #[error(
        "the source archive unpacks to more than {limit} bytes: leave build output and dependencies out (.gitignore, .slugignore)"
    )]
    TooLarge { limit: u64 },
    #[error("the source archive has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("unpacking the source failed: {0}")]
    Io(#[from] io::Error),
}

/// Unpacks `archive` into `dest` (which must not exist yet) and returns the
/// source root: `dest`, or its only folder when the archive wraps everything
/// in one (as GitHub's tarballs do). On error `dest` is removed.
pub fn unpack(archive: &[u8], dest: &Path, limits: SourceLimits) -> Result<PathBuf, SourceError> {
    let result = unpack_into(archive, dest, limits);
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn unpack_into(archive: &[u8], dest: &Path, limits: SourceLimits) -> Result<PathBuf, SourceError> {
    let reader: Box<dyn Read + '_> = if archive.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(archive))
    } else if archive.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::Decoder::new(archive).map_err(|e| SourceError::Corrupt(e.to_string()))?)
    } else {
        Box::new(archive)
    };
    fs::create_dir_all(dest)?;
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| SourceError::Corrupt(e.to_string()))?;
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    for entry in entries {
        count += 1;
        if count > limits.max_entries {
            return Err(SourceError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(|e| SourceError::Corrupt(e.to_string()))?;
        let raw = entry
            .path()
            .map_err(|e| SourceError::Corrupt(e.to_string()))?
            .into_owned();
        let path = raw.to_string_lossy().into_owned();
        let refuse = |reason: &str| SourceError::Unsafe {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let Some(relative) = inside(&raw) else {
            return Err(refuse("absolute paths and `..` are not allowed"));
        };
        if relative.as_os_str().is_empty() {
            continue; // `./`
        }
        let target = dest.join(&relative);
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry
                    .header()
                    .size()
                    .map_err(|e| SourceError::Corrupt(e.to_string()))?;
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(SourceError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
                if let Some(dir) = target.parent() {
                    fs::create_dir_all(dir)?;
                }
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                let mut out = fs::File::create(&target)?;
                // At most the declared size: a lying header cannot grow a file.
                let copied = io::copy(&mut entry.by_ref().take(size), &mut out)
                    .map_err(|e| SourceError::Corrupt(e.to_string()))?;
                if copied != size {
                    return Err(SourceError::Corrupt(format!("`{path}` is truncated")));
                }
                set_executable(&target, executable)?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(|e| SourceError::Corrupt(e.to_string()))?
                    .ok_or_else(|| refuse("a link without a target"))?
                    .into_owned();
                // A symlink's target is relative to its folder; a hard link's to the archive's root.
                let base = if kind == tar::EntryType::Symlink {
                    relative.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                let Some(resolved) = inside(&base.join(&link)) else {
                    return Err(refuse(&format!(
                        "it links to `{}`, outside the source",
                        link.display()
                    )));
                };
                if let Some(dir) = target.parent() {
                    fs::create_dir_all(dir)?;
                }
                if kind == tar::EntryType::Symlink {
                    symlink(&link, &target)?;
                } else {
                    fs::hard_link(dest.join(&resolved), &target).map_err(|e| {
                        SourceError::Corrupt(format!(
                            "`{path}` is a hard link to `{}`, which is not an earlier file: {e}",
                            link.display()
                        ))
                    })?;
                }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(refuse(&format!(
                    "entries of type {other:?} (devices, fifos) are not part of an app"
                )));
            }
        }
    }
    if count == 0 {
        return Err(SourceError::Corrupt("it holds no files".to_string()));
    }
    // Read the compressed stream to its end: gzip checks its CRC only there,
    // after the tar's end marker, so a corrupted archive would otherwise pass.
    let mut rest = tar.into_inner().take(limits.max_bytes);
    let trailing =
        io::copy(&mut rest, &mut io::sink()).map_err(|e| SourceError::Corrupt(e.to_string()))?;
    if trailing >= limits.max_bytes {
        return Err(SourceError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    // One top-level folder and nothing else: that folder is the source.
    let top: Vec<_> = fs::read_dir(dest)?.flatten().collect();
    if let [only] = top.as_slice()
        && only.file_type().is_ok_and(|t| t.is_dir())
    {
        return Ok(only.path());
    }
    Ok(dest.to_path_buf())
}

/// `path` made relative and normalised, if it stays inside its root.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(unix)]
fn symlink(link: &Path, target: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, target)
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::other("symbolic links need a Unix build machine"))
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        path,
        fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }),
    )
}

#[cfg(not(unix))]
fn set_executable(_: &Path, _: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One archive entry: path, type, contents, link target.
    type Entry<'a> = (&'a str, tar::EntryType, &'a [u8], Option<&'a str>);

    fn archive(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            // Written raw, so hostile names reach the unpacker as they are.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn unpacks_plain_gzip_and_zstd_and_strips_one_top_folder() {
        let tar = archive(&[
            ("repo-abc/", tar::EntryType::Directory, b"", None),
            (
                "repo-abc/Procfile",
                tar::EntryType::Regular,
                b"web: app.wasm\n",
                None,
            ),
            (
                "repo-abc/link",
                tar::EntryType::Symlink,
                b"",
                Some("Procfile"),
            ),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for bytes in [tar.clone(), gz, zst] {
            let dir = tempfile::tempdir().unwrap();
            let root = unpack(&bytes, &dir.path().join("src"), SourceLimits::default()).unwrap();
            assert_eq!(root, dir.path().join("src/repo-abc"));
            assert_eq!(
                fs::read_to_string(root.join("link")).unwrap(),
                "web: app.wasm\n"
            );
        }
    }

    #[test]
    fn hostile_archives_are_refused_and_leave_nothing() {
        use tar::EntryType::*;
        let cases: &[(&[Entry<'_>], &str)] = &[
            (&[("../evil", Regular, b"x", None)], "`..` are not allowed"),
            (&[("/etc/evil", Regular, b"x", None)], "absolute paths"),
            (
                &[("a/../../evil", Regular, b"x", None)],
                "`..` are not allowed",
            ),
            (
                &[("out", Symlink, b"", Some("../../etc/passwd"))],
                "outside the source",
            ),
            (
                &[("out", Symlink, b"", Some("/etc/passwd"))],
                "outside the source",
            ),
            (
                &[("dir/out", Link, b"", Some("../x"))],
                "outside the source",
            ),
            (&[("dev", Char, b"", None)], "devices, fifos"),
            (&[("pipe", Fifo, b"", None)], "devices, fifos"),
        ];
        for (entries, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("src");
            let err = unpack(&archive(entries), &dest, SourceLimits::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{entries:?}: {err}");
            assert!(!dest.exists(), "{entries:?} left files behind");
        }
    }

    #[test]
    fn bombs_truncation_and_garbage() {
        // A megabyte of zeros compresses to almost nothing; the limit stops it.
        let tar = archive(&[("big", tar::EntryType::Regular, &vec![0u8; 1 << 20], None)]);
        let bomb = zstd::encode_all(&tar[..], 19).unwrap();
        assert!(bomb.len() < 4096);
        let dir = tempfile::tempdir().unwrap();
        let limits = SourceLimits {
            max_bytes: 1 << 19,
            ..SourceLimits::default()
        };
        let err = unpack(&bomb, &dir.path().join("a"), limits).unwrap_err();
        assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");

        let truncated = &tar[..tar.len() / 2];
        let err = unpack(truncated, &dir.path().join("b"), SourceLimits::default()).unwrap_err();
        assert!(
            err.to_string().contains("truncated") || err.to_string().contains("corrupt"),
            "{err}"
        );
        assert!(!dir.path().join("b").exists());

        // A flipped byte inside gzip's data is caught by its CRC, at the end.
        let small = archive(&[(
            "Procfile",
            tar::EntryType::Regular,
            b"web: app.wasm\n",
            None,
        )]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        io::Write::write_all(&mut gz, &small).unwrap();
        let mut gz = gz.finish().unwrap();
        let at = gz.windows(3).position(|w| w == b"app").unwrap();
        gz[at] ^= 0x01; // `app.wasm` becomes ``pp.wasm`: only the CRC can tell
        let err = unpack(&gz, &dir.path().join("d"), SourceLimits::default()).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(!dir.path().join("d").exists());

        let err = unpack(
            b"this is no archive at all, not even close",
            &dir.path().join("c"),
            SourceLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a tar archive"), "{err}");
    }
}
