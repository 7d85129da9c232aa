//! Names of add-ons and attachments, as Heroku makes and checks them.

use rand::Rng as _;

/// Adjectives of generated add-on names: `postgresql-curved-12345`.
const WORDS: &[&str] = &[
    "amber",
    "angular",
    "aerodynamic",
    "animate",
    "asymmetrical",
    "clean",
    "closed",
    "concave",
    "contoured",
    "convex",
    "crystalline",
    "cubic",
    "curly",
    "curved",
    "cylindrical",
    "deep",
    "defined",
    "dimensional",
    "elliptical",
    "encircled",
    "flat",
    "fluffy",
    "graceful",
    "horizontal",
    "infinite",
    "lively",
    "metallic",
    "opaque",
    "parallel",
    "perpendicular",
    "polished",
    "reticulated",
    "rigid",
    "round",
    "rugged",
    "shallow",
    "shaped",
    "sinuous",
    "solid",
    "spherical",
    "symmetrical",
    "tapered",
    "transparent",
    "triangular",
    "vertical",
];

/// A fresh add-on name for `stem`: `postgresql-curved-12345`.
pub fn generate(stem: &str) -> String {
    let mut rng = rand::rng();
    let word = WORDS[rng.random_range(0..WORDS.len())];
    format!("{stem}-{word}-{:05}", rng.random_range(10_000..100_000))
}

/// Checks a name the user gave an add-on (Heroku's pattern
/// `^[a-zA-Z][A-Za-z0-9_-]+$`, at most 256 characters).
pub fn check_addon_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && name.len() <= 256
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid add-on name `{name}`: start with a letter, then use letters, digits, dashes and underscores"
        ))
    }
}

/// Checks an attachment name (`--as`): the prefix of config var names, so
/// upper-case letters, digits and underscores, starting with a letter.
pub fn check_attachment_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid attachment name `{name}`: it prefixes config vars, so use upper-case letters, digits and underscores, starting with a letter (`--as MY_DB`)"
        ))
    }
}

/// An identifier for the add-on's resources on a shared server (a Postgres
/// role and database, a Redis user and key prefix): `kumo_postgresql_curved_12345`.
/// Add-on names are unique, and the mapping keeps them apart (`-` → `_`, the
/// only change, on names that never hold `_`… except user-given ones, so
/// those are hashed in).
pub fn resource_id(addon: &str) -> String {
    let plain: String = addon
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if addon.contains('_') || addon.chars().any(|c| c.is_ascii_uppercase()) || plain.len() > 40 {
        use sha2::Digest as _;
        let hash = hex::encode(&sha2::Sha256::digest(addon.as_bytes())[..6]);
        let short: String = plain.chars().take(40).collect();
        format!("kumo_{short}_{hash}")
    } else {
        format!("kumo_{plain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let name = generate("postgresql");
        assert!(check_addon_name(&name).is_ok(), "{name}");
        assert!(name.starts_with("postgresql-"));
        assert!(check_addon_name("my-db_2").is_ok());
        assert!(check_addon_name("2db").is_err());
        assert!(check_addon_name("a b").is_err());
        assert!(check_attachment_name("DATABASE").is_ok());
        assert!(check_attachment_name("MY_DB2").is_ok());
        assert!(check_attachment_name("my_db").is_err());
        assert!(check_attachment_name("1DB").is_err());
        assert_eq!(
            resource_id("postgresql-curved-12345"),
            "kumo_postgresql_curved_12345"
        );
        // Two user names that map to the same plain form stay apart.
        assert_ne!(resource_id("my-db"), resource_id("my_db"));
        assert!(resource_id(&"x".repeat(200)).len() < 63);
    }
}
