//! `~/.netrc`, where `kumo login` keeps a token per API host, as Heroku's CLI
//! does: `machine <host> login <email> password <token>`. Other entries, and
//! the file's layout around them, are kept as they are.

use anyhow::Context as _;
use std::path::PathBuf;

/// The netrc file: `$NETRC`, or `~/.netrc`.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NETRC") {
        return Ok(PathBuf::from(path));
    }
    Ok(dirs::home_dir()
        .context("no home folder to keep ~/.netrc in: set NETRC to a file path")?
        .join(".netrc"))
}

/// A token with the byte range it covers in the text.
struct Token<'a> {
    text: &'a str,
    start: usize,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(Token {
                    text: &text[s..i],
                    start: s,
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Token {
            text: &text[s..],
            start: s,
        });
    }
    out
}

/// The byte range of `machine`'s entry, and its login and password.
fn find(text: &str, machine: &str) -> Option<(usize, usize, Option<String>, Option<String>)> {
    let tokens = tokens(text);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].text == "machine" && tokens.get(i + 1).is_some_and(|t| t.text == machine) {
            let start = tokens[i].start;
            let (mut login, mut password) = (None, None);
            let mut j = i + 2;
            while j < tokens.len() && !matches!(tokens[j].text, "machine" | "default" | "macdef") {
                match (tokens[j].text, tokens.get(j + 1)) {
                    ("login", Some(v)) => login = Some(v.text.to_string()),
                    ("password", Some(v)) => password = Some(v.text.to_string()),
                    _ => {}
                }
                j += if matches!(tokens[j].text, "login" | "password" | "account") {
                    2
                } else {
                    1
                };
            }
            let end = tokens.get(j).map_or(text.len(), |t| t.start);
            return Some((start, end, login, password));
        }
        i += 1;
    }
    None
}

/// The netrc file's path and text (empty if there is no file yet).
fn read() -> anyhow::Result<(PathBuf, String)> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((path, String::new())),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The login and token stored for `machine`, if any.
pub fn get(machine: &str) -> anyhow::Result<Option<(String, String)>> {
    let (_, text) = read()?;
    Ok(find(&text, machine)
        .and_then(|(_, _, login, password)| Some((login.unwrap_or_default(), password?))))
}

/// Stores (or with `None`, removes) `machine`'s entry; the file is replaced
/// whole through a temporary file and is readable by its owner only.
pub fn set(machine: &str, entry: Option<(&str, &str)>) -> anyhow::Result<()> {
    let (path, mut text) = read()?;
    if let Some((start, end, _, _)) = find(&text, machine) {
        text.replace_range(start..end, "");
    }
    if let Some((login, password)) = entry {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "machine {machine}\n  login {login}\n  password {password}\n"
        ));
    }
    let dir = path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("writing a file in {}", dir.display()))?;
    use std::io::Write as _;
    file.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600))?;
    }
    file.as_file().sync_all()?;
    file.persist(&path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_one_machine() {
        let text = "machine api.heroku.com\n  login a@b.c\n  password one\nmachine 127.0.0.1 login me@x.y password two\ndefault login anon password x\n";
        let (start, end, login, password) = find(text, "127.0.0.1").unwrap();
        assert_eq!(login.as_deref(), Some("me@x.y"));
        assert_eq!(password.as_deref(), Some("two"));
        let mut rest = text.to_string();
        rest.replace_range(start..end, "");
        assert_eq!(
            rest,
            "machine api.heroku.com\n  login a@b.c\n  password one\ndefault login anon password x\n"
        );
        assert!(find(text, "127.0.0").is_none());
        assert_eq!(
            find(text, "api.heroku.com").unwrap().3.as_deref(),
            Some("one")
        );
    }
}
