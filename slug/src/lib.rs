//! Kumo's slug format: a content-addressed archive (`sha256:…`) of an app's files,
//! its Wasm components and a versioned manifest.
//!
//! A slug is a zstd-compressed tar. Its first entry is `kumo-slug.json` (the
//! [`Manifest`]); every other entry lives under `app/`, which a dyno sees as `/app`.
//! Process types name their component by a path relative to `app/`.
//!
//! The builder packs slugs ([`pack`]); the runtime reads them ([`unpack`]), which
//! checks the digest, the schema version and the `must_understand` list before a
//! single file is written, and refuses entries that would escape the destination.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod archive;
mod manifest;

pub use archive::{Limits, PackedSlug, pack, unpack, unpack_bytes};
pub use manifest::{DocumentRoot, Manifest, ProcessKind, ProcessType};

use std::fmt;

/// The manifest schema this build of Kumo writes and reads.
/// A change to the slug format bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// Features a slug may list in `must_understand` that this build of Kumo knows.
/// A reader refuses a slug that lists any other feature.
pub const KNOWN_FEATURES: &[&str] = &["process-kinds", "cgi", "fresh-instances", "document-roots"];

/// The file name of the manifest inside the archive.
pub const MANIFEST_FILE: &str = "kumo-slug.json";

/// The folder inside the archive that holds the app's files.
pub const APP_DIR: &str = "app";

/// A slug's content address: `sha256:` and 64 lowercase hex digits of the archive bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::from_hasher(sha2::Sha256::new_with_prefix(bytes))
    }

    pub(crate) fn from_hasher(hasher: sha2::Sha256) -> Digest {
        use sha2::Digest as _;
        Digest(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(s: &str) -> Result<Digest, SlugError> {
        let hex_part = s.strip_prefix("sha256:").unwrap_or("");
        if hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest(s.to_string()))
        } else {
            Err(SlugError::InvalidDigest(s.to_string()))
        }
    }

    /// The full form, `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part alone, safe to use as a file name.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a slug could not be packed or read.
#[derive(Debug, thiserror::Error)]
pub enum SlugError {
    #[error("invalid slug digest `{0}`: expected `sha256:` followed by 64 lowercase hex digits")]
    InvalidDigest(String),
    #[error(
        "slug digest mismatch: expected {expected}, the archive hashes to {actual}; the slug is corrupt, deploy it again"
    )]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error(
        "slug schema version {found} is newer than this Kumo understands (up to {supported}); upgrade Kumo"
    )]
    UnsupportedSchema { found: u32, supported: u32 },
    #[error(
        "slug requires features this Kumo does not understand: {}; upgrade Kumo or rebuild the slug without them",
        .0.join(", ")
    )]
    UnknownFeatures(Vec<String>),
    #[error("invalid slug manifest: {0}")]
    InvalidManifest(String),
    #[error("unsafe entry `{path}` in slug archive: {reason}")]
    UnsafeEntry { path: String, reason: String },
    #[error("slug too large: {size} bytes unpacked is over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("slug archive is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SlugError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SlugError {
        let context = context.into();
        move |source| SlugError::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_parse() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(d.as_str()).ok(), Some(d.clone()));
        assert_eq!(d.short(), "ba7816bf8f01");
        for bad in [
            "",
            "sha256:",
            "sha1:abc",
            "sha256:ABC",
            &format!("{}0", d.as_str()),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
