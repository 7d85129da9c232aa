//! `kumo deploy [DIR]`: the source built on the server by its buildpacks;
//! `kumo deploy --git URL`: a repository built the same way; `kumo deploy
//! --wasm app.wasm`: a prebuilt component (or WASI preview 1 module) packed
//! into a slug here, uploaded, released.

use crate::client::Client;
use anyhow::Context as _;
use serde_json::json;
use std::path::Path;

pub async fn wasm(
    client: &Client,
    app: &str,
    file: &Path,
    process_type: &str,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    println!(
        "-----> Packing {} as the `{process_type}` process",
        file.display()
    );
    let scratch = tempfile::tempdir()?;
    let out = scratch.path().join("slug.tar.zst");
    let packed = kumo_builder::prebuilt::slug(&bytes, process_type, &out)
        .with_context(|| format!("{} cannot be deployed", file.display()))?;
    let archive = std::fs::read(&packed.path)?;
    println!(
        "-----> Uploading slug {} ({} KB)",
        packed.digest.short(),
        archive.len().div_ceil(1024)
    );
    let slug = client
        .send(
            "POST",
            &format!("/apps/{app}/slugs"),
            "application/zstd",
            archive.into(),
        )
        .await?;
    let release = client
        .call(
            "POST",
            &format!("/apps/{app}/releases"),
            Some(json!({ "slug": slug["id"] })),
        )
        .await?;
    println!(
        "-----> Releasing... done, v{}",
        release["version"].as_i64().unwrap_or(0)
    );
    super::releases::follow_phase(client, app, &release).await?;
    let info = client.call("GET", &format!("/apps/{app}"), None).await?;
    println!(
        "{} deployed to Kumo",
        info["web_url"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// `kumo deploy [DIR]`: packs the folder (leaving out what `.gitignore` and
/// `.slugignore` list, and `.git`), uploads it with a progress bar, builds it
/// on the server with the build output streamed here, and follows the release.
pub async fn source(client: &Client, app: &str, dir: &Path) -> anyhow::Result<()> {
    let folder = dir.display().to_string();
    let (archive, files) = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || pack(&dir)).await??
    };
    println!(
        "-----> Packing {folder}: {files} files, {} KB",
        archive.len().div_ceil(1024)
    );
    let bar = indicatif::ProgressBar::new(archive.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "-----> Uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )?
        .progress_chars("=> "),
    );
    let uploaded = client
        .send_with_progress(
            "POST",
            &format!("/apps/{app}/sources"),
            "application/gzip",
            archive.into(),
            bar.clone(),
        )
        .await?;
    bar.finish_and_clear();
    println!("-----> Uploaded");
    let url = uploaded["source_blob"]["get_url"]
        .as_str()
        .context("the API gave no source URL")?
        .to_string();
    build(
        client,
        app,
        json!({ "url": url, "version": git_commit(dir) }),
    )
    .await
}

/// `kumo deploy --git URL [--ref REF]`: the server clones the repository and builds it.
pub async fn git(
    client: &Client,
    app: &str,
    url: &str,
    reference: Option<&str>,
) -> anyhow::Result<()> {
    let url = if url.ends_with(".git") || url.starts_with("git://") {
        url.to_string()
    } else {
        format!("git+{url}")
    };
    build(client, app, json!({ "url": url, "version": reference })).await
}

/// Starts a build of `source_blob`, streams its output, and fails if it failed.
pub async fn build(
    client: &Client,
    app: &str,
    source_blob: serde_json::Value,
) -> anyhow::Result<()> {
    let build = client
        .call(
            "POST",
            &format!("/apps/{app}/builds"),
            Some(json!({ "source_blob": source_blob })),
        )
        .await?;
    let id = build["id"]
        .as_str()
        .context("the API gave no build id")?
        .to_string();
    if let Some(stream) = build["output_stream_url"].as_str() {
        client
            .stream(stream, &mut |chunk| print!("{chunk}"))
            .await?;
    }
    let build = client
        .call("GET", &format!("/apps/{app}/builds/{id}"), None)
        .await?;
    if build["status"] != "succeeded" {
        anyhow::bail!(
            "the build failed: see the output above (kept with the build: kumo builds:output {id} -a {app})"
        );
    }
    if let Some(release) = build["release"]["id"].as_str() {
        let release = client
            .call("GET", &format!("/apps/{app}/releases/{release}"), None)
            .await?;
        super::releases::follow_phase(client, app, &release).await?;
    }
    Ok(())
}

/// The folder's files as a .tar.gz, as git would see them: `.gitignore`
/// (also without a repository) and `.slugignore` are honoured, `.git` left out.
fn pack(dir: &Path) -> anyhow::Result<(Vec<u8>, usize)> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a folder: give the app's folder", dir.display());
    }
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    tar.follow_symlinks(false);
    let walk = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .parents(true)
        .add_custom_ignore_filename(".slugignore")
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut files = 0;
    for entry in walk {
        let entry = entry?;
        let path = entry.path();
        let relative = path.strip_prefix(dir)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.file_type();
        if kind.is_some_and(|t| t.is_file() || t.is_symlink()) {
            tar.append_path_with_name(path, relative)
                .with_context(|| format!("packing {}", path.display()))?;
            files += 1;
        } else if kind.is_some_and(|t| t.is_dir()) {
            tar.append_dir(relative, path)?;
        }
    }
    let gz = tar.into_inner()?;
    Ok((gz.finish()?, files))
}

/// The commit checked out in `dir`, if it is a git work tree.
fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
