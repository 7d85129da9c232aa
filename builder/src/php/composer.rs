//! What `composer.json` and `composer.lock` ask of the build, checked against
//! what Kumo can give: the PHP version, its extensions, and packages that are
//! already in `vendor/` (Packagist is not reachable from builds, so
//! `composer install` cannot run there).

use super::toolchain::Php;
use crate::buildpack::BuildContext;
use serde_json::Value;

/// Fails, naming what is missing, if the app needs what the build cannot give.
pub(super) fn check(ctx: &mut BuildContext<'_>, php: &Php) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(ctx.app_dir.join("composer.json")) else {
        return Ok(());
    };
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("composer.json is not valid JSON: {e}"))?;
    let require = json.get("require").and_then(Value::as_object);
    let mut packages = false;
    for (name, constraint) in require.into_iter().flatten() {
        let constraint = constraint.as_str().unwrap_or("*");
        if name == "php" {
            if !allows(constraint, php.version_tuple()) {
                anyhow::bail!(
                    "composer.json requires php {constraint}, and Kumo runs PHP {}: allow it (e.g. \"php\": \"^8.2\")",
                    php.version
                );
            }
        } else if let Some(extension) = name.strip_prefix("ext-") {
            if !php.has_extension(extension) {
                anyhow::bail!(
                    "composer.json requires the PHP extension {extension}, which Kumo's PHP {} does not have (it has {}): remove the requirement or use an extension it has",
                    php.version,
                    php.extensions.join(", ")
                );
            }
        } else if name.contains('/') {
            packages = true;
        }
    }
    let lock = match std::fs::read_to_string(ctx.app_dir.join("composer.lock")) {
        Ok(text) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| anyhow::anyhow!("composer.lock is not valid JSON: {e}"))?,
        ),
        Err(_) => None,
    };
    let locked: Vec<(String, String)> = lock
        .as_ref()
        .and_then(|l| l.get("packages"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let version = p.get("version").and_then(Value::as_str).unwrap_or("");
            Some((name, version.to_string()))
        })
        .collect();
    if packages && lock.is_none() && !ctx.app_dir.join("vendor/autoload.php").is_file() {
        anyhow::bail!(
            "composer.json requires packages, but there is no composer.lock and no vendor/: run `composer install` and commit composer.lock and vendor/ (Packagist is not reachable from Kumo's builds)"
        );
    }
    let missing: Vec<String> = locked
        .iter()
        .filter(|(name, _)| !ctx.app_dir.join("vendor").join(name).is_dir())
        .map(|(name, version)| format!("{name} {version}").trim().to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "composer.lock lists packages that are not in vendor/: {}. Packagist is not reachable from Kumo's builds, so packages must come with the source: run `composer install --no-dev` and commit vendor/",
            missing.join(", ")
        );
    }
    if !locked.is_empty() {
        (ctx.log)(&format!(
            "{} Composer package(s) vendored in vendor/",
            locked.len()
        ));
    }
    Ok(())
}

/// Whether a Composer version constraint allows `version` (major, minor,
/// patch). Alternatives (`||`) and ranges of the common operators (`^`, `~`,
/// `>=`, `>`, `<=`, `<`, `=`, `!=`, `*`, `8.2.*`) are understood.
fn allows(constraint: &str, version: (u64, u64, u64)) -> bool {
    constraint.split("||").any(|alternative| {
        alternative
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .all(|part| part_allows(part, version))
    })
}

fn part_allows(part: &str, version: (u64, u64, u64)) -> bool {
    let (operator, rest) = match part.find(|c: char| c.is_ascii_digit() || c == '*') {
        Some(at) => part.split_at(at),
        None => return true,
    };
    let rest = rest.trim_start_matches('v');
    if rest == "*" {
        return true;
    }
    let numbers: Vec<Option<u64>> = rest
        .split('.')
        .map(|n| n.split('-').next().unwrap_or(n))
        .map(|n| n.parse().ok())
        .collect();
    let given = numbers.iter().take_while(|n| n.is_some()).count();
    let at = |i: usize| numbers.get(i).copied().flatten().unwrap_or(0);
    let bound = (at(0), at(1), at(2));
    let wildcard = rest.contains('*') || rest.contains('x');
    match operator {
        ">=" => version >= bound,
        ">" => version > bound,
        "<=" => version <= bound,
        "<" => version < bound,
        "!=" => version != bound,
        "^" => {
            let upper = if bound.0 > 0 {
                (bound.0 + 1, 0, 0)
            } else {
                (0, bound.1 + 1, 0)
            };
            version >= bound && version < upper
        }
        "~" => {
            let upper = if given <= 2 {
                (bound.0 + 1, 0, 0)
            } else {
                (bound.0, bound.1 + 1, 0)
            };
            version >= bound && version < upper
        }
        "" | "=" | "==" if wildcard || given < 3 => match given {
            1 => version.0 == bound.0,
            _ => (version.0, version.1) == (bound.0, bound.1),
        },
        "" | "=" | "==" => version == bound,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::allows;

    #[test]
    fn php_constraints() {
        let v = (8, 2, 32);
        for yes in [
            "^8.2",
            "^8.0",
            ">=8.1",
            "~8.1",
            "8.2.*",
            "*",
            "^7.4 || ^8.0",
            ">=8.0 <8.3",
            "8.2",
            "~8.2.0",
            ">=8.1,<9",
        ] {
            assert!(allows(yes, v), "{yes}");
        }
        for no in [
            "^8.3", ">=8.3", "~8.3", "8.3.*", "^7.4", "<8.2", "~8.2.33", "8.1",
        ] {
            assert!(!allows(no, v), "{no}");
        }
    }
}
