//! The Procfile: `type: command` per line, as on Heroku. The command names a
//! component of the slug (or something a buildpack maps to one) and its
//! arguments, split as a shell would split them.
//!
//! Every error names its line and says how to fix it.

use std::collections::BTreeMap;
use std::fmt;

/// One process type's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The command as written.
    pub command: String,
    /// The command split into words: the program, then its arguments.
    pub argv: Vec<String>,
    /// Where it was declared, from 1.
    pub line: usize,
}

/// A parsed Procfile: process type → its entry.
pub type Procfile = BTreeMap<String, Entry>;

/// A Procfile that cannot be used, with its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcfileError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ProcfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Procfile line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ProcfileError {}

/// The longest process type name accepted.
const MAX_NAME: usize = 63;

/// Parses a Procfile. Blank lines and lines starting with `#` are skipped.
pub fn parse(text: &str) -> Result<Procfile, ProcfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut procfile = Procfile::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let error = |message: String| ProcfileError { line, message };
        let Some((name, command)) = trimmed.split_once(':') else {
            return Err(error(format!(
                "`{trimmed}` is not `type: command`: write it like `web: app.wasm`"
            )));
        };
        let name = name.trim();
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(error(format!(
                "invalid process type `{name}`: use up to {MAX_NAME} letters, digits, `_` and `-`"
            )));
        }
        let command = command.trim();
        if command.is_empty() {
            return Err(error(format!(
                "process type `{name}` has no command: name a component and its arguments, like `{name}: app.wasm`"
            )));
        }
        let argv = shell_words::split(command).map_err(|_| {
            error(format!(
                "the command of `{name}` has an unbalanced quote: `{command}`"
            ))
        })?;
        if let Some(first) = procfile.get(name) {
            return Err(error(format!(
                "process type `{name}` is declared twice (first on line {}): keep one",
                first.line
            )));
        }
        procfile.insert(
            name.to_string(),
            Entry {
                command: command.to_string(),
                argv,
                line,
            },
        );
    }
    Ok(procfile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_commands() {
        let procfile = parse(
            "\u{feff}# processes\r\nweb: app.wasm --port $PORT\r\n\n  worker:  jobs.wasm 'mail queue' \nrelease: migrate.wasm\n",
        )
        .unwrap();
        assert_eq!(procfile.len(), 3);
        assert_eq!(procfile["web"].argv, ["app.wasm", "--port", "$PORT"]);
        assert_eq!(procfile["web"].line, 2);
        assert_eq!(procfile["worker"].argv, ["jobs.wasm", "mail queue"]);
        assert_eq!(procfile["worker"].command, "jobs.wasm 'mail queue'");
        assert_eq!(procfile["release"].line, 5);
        assert!(parse("").unwrap().is_empty());
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        assert_eq!(
            error("web: a.wasm\nworker b.wasm\n"),
            "Procfile line 2: `worker b.wasm` is not `type: command`: write it like `web: app.wasm`"
        );
        assert!(
            error("my web: a.wasm").starts_with("Procfile line 1: invalid process type `my web`")
        );
        assert!(error(": a.wasm").contains("invalid process type ``"));
        assert!(error("web.1: a.wasm").contains("invalid process type `web.1`"));
        assert_eq!(
            error("\nweb:   \n"),
            "Procfile line 2: process type `web` has no command: name a component and its arguments, like `web: app.wasm`"
        );
        assert_eq!(
            error("web: a.wasm\n\nweb: b.wasm"),
            "Procfile line 3: process type `web` is declared twice (first on line 1): keep one"
        );
        assert!(
            error("web: a.wasm 'open")
                .contains("Procfile line 1: the command of `web` has an unbalanced quote")
        );
        assert!(error(&format!("{}: a.wasm", "x".repeat(64))).contains("invalid process type"));
    }
}
