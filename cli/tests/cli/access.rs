//! Accounts, `kumo login` and collaborators: an account sees and changes only
//! its own apps and those it collaborates on.

use crate::support::{Server, kumo, kumo_as, stdout};

fn fails_with(output: &std::process::Output, message: &str) {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(message), "{stderr}");
}

#[test]
fn login_accounts_and_collaborators() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    stdout(&kumo(&server, &["apps:create", "admins-app"]));

    let out = stdout(&kumo(&server, &["accounts:create", "bob@example.com"]));
    let key = out
        .lines()
        .find_map(|l| l.split(": ").nth(1).filter(|k| k.starts_with("kumo_")))
        .unwrap_or_else(|| panic!("no key in {out}"))
        .to_string();

    // No token anywhere: the error says to log in.
    fails_with(&kumo_as(&server, "", &["apps"], None), "run `kumo login`");
    // A wrong key is refused and nothing is stored.
    fails_with(
        &kumo_as(&server, "", &["login"], Some("kumo_wrong\n")),
        "Invalid credentials",
    );
    assert!(!data.path().join("netrc").exists());

    let out = stdout(&kumo_as(&server, "", &["login"], Some(&format!("{key}\n"))));
    assert_eq!(out, "Logged in as bob@example.com\n");
    let netrc = std::fs::read_to_string(data.path().join("netrc")).unwrap();
    assert!(
        netrc.contains(&format!(
            "machine 127.0.0.1\n  login bob@example.com\n  password {key}\n"
        )),
        "{netrc}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.path().join("netrc"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bob = |args: &[&str]| kumo_as(&server, "", args, None);
    assert_eq!(stdout(&bob(&["auth:whoami"])), "bob@example.com\n");

    // Bob sees none of the admin's apps, and cannot read one by name.
    assert_eq!(stdout(&bob(&["apps"])), "=== My Apps\n");
    fails_with(
        &bob(&["config", "-a", "admins-app"]),
        "You do not have access to the app admins-app.",
    );
    fails_with(
        &bob(&["accounts:create", "eve@example.com"]),
        "Only an admin can manage accounts",
    );
    fails_with(
        &bob(&["access:add", "-a", "admins-app", "bob@example.com"]),
        "You do not have access",
    );

    // As a collaborator he can use it, but not destroy it.
    assert_eq!(
        stdout(&kumo(
            &server,
            &["access:add", "-a", "admins-app", "bob@example.com"]
        )),
        "Adding bob@example.com access to the app admins-app... done\n"
    );
    fails_with(
        &kumo(
            &server,
            &["access:add", "-a", "admins-app", "bob@example.com"],
        ),
        "already a collaborator",
    );
    fails_with(
        &kumo(
            &server,
            &["access:add", "-a", "admins-app", "nobody@example.com"],
        ),
        "kumo accounts:create nobody@example.com",
    );
    assert_eq!(stdout(&bob(&["apps"])), "=== My Apps\nadmins-app\n");
    stdout(&bob(&["config:set", "-a", "admins-app", "FROM_BOB=1"]));
    let access = stdout(&bob(&["access", "-a", "admins-app"]));
    let rows: Vec<Vec<&str>> = access
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["admin@kumo.local", "owner"],
            vec!["bob@example.com", "collaborator"]
        ],
        "{access}"
    );
    fails_with(
        &bob(&[
            "apps:destroy",
            "-a",
            "admins-app",
            "--confirm",
            "admins-app",
        ]),
        "Only the owner of admins-app",
    );

    // Removed, he loses it again.
    stdout(&kumo(
        &server,
        &["access:remove", "-a", "admins-app", "bob@example.com"],
    ));
    assert_eq!(stdout(&bob(&["apps"])), "=== My Apps\n");
    let accounts = stdout(&kumo(&server, &["accounts"]));
    assert!(accounts.contains("bob@example.com\n"), "{accounts}");

    // Logging out removes the key.
    assert_eq!(stdout(&bob(&["logout"])), "Logging out... done\n");
    fails_with(&bob(&["auth:whoami"]), "run `kumo login`");
}

#[test]
fn authorizations_commands() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], "Router listening on");
    let as_token = |token: &str, args: &[&str]| kumo_as(&server, token, args, None);

    let listed = stdout(&kumo(&server, &["authorizations"]));
    assert!(listed.starts_with("=== Authorizations\n"), "{listed}");
    assert!(listed.contains("Kumo API key  "), "{listed}");
    assert!(listed.contains("  global  never expires\n"), "{listed}");

    // Create: the token is printed once, and works.
    let out = stdout(&kumo(
        &server,
        &["authorizations:create", "-d", "ci deploys", "-e", "3600"],
    ));
    assert!(out.starts_with("Creating authorization... done\n"), "{out}");
    assert!(out.contains("\nDescription: ci deploys\n"), "{out}");
    assert!(out.contains("\nScope:       global\n"), "{out}");
    assert!(out.contains("\nExpires:     expires in 1h"), "{out}");
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let id = field(&out, "ID:");
    let token = field(&out, "Token:");
    assert!(token.starts_with("kumo_"), "{out}");
    assert_eq!(
        stdout(&as_token(&token, &["auth:whoami"])),
        "admin@kumo.local\n"
    );

    // `--short` prints only the token, for scripts.
    let short = stdout(&kumo(
        &server,
        &["authorizations:create", "-S", "-s", "global"],
    ));
    assert!(
        short.starts_with("kumo_") && short.lines().count() == 1,
        "{short}"
    );

    // List and info show it without the token.
    let listed = stdout(&as_token(&token, &["authorizations"]));
    assert!(
        listed.contains(&format!("ci deploys        {id}  global  expires in")),
        "{listed}"
    );
    assert!(listed.contains("(no description)  "), "{listed}");
    assert!(!listed.contains(&token), "{listed}");
    let info = stdout(&kumo(&server, &["authorizations:info", &id]));
    assert!(
        info.starts_with(&format!("=== Authorization {id}\n")),
        "{info}"
    );
    assert!(info.contains("\nDescription: ci deploys\n"), "{info}");
    assert!(!info.contains(&token), "{info}");

    // What the API refuses fails the command with its message.
    for (args, message) in [
        (
            &["authorizations:create", "-e", "0"][..],
            "invalid expires_in `0`: use 1 to 31536000 seconds",
        ),
        (
            &["authorizations:create", "-e", "-5"],
            "invalid expires_in `-5`",
        ),
        (
            &["authorizations:create", "-e", "soon"],
            "invalid expires_in `soon`",
        ),
        (
            &["authorizations:create", "-s", "read,global"],
            "scope `read` is not supported",
        ),
        (
            &["authorizations:info", "no-such-id"],
            "Couldn't find that authorization",
        ),
        (
            &["authorizations:revoke", "no-such-id"],
            "Couldn't find that authorization",
        ),
    ] {
        fails_with(&kumo(&server, args), message);
    }

    // Revoke: the token stops working at once.
    assert_eq!(
        stdout(&kumo(&server, &["authorizations:revoke", &id])),
        format!("Revoking authorization {id}... done, revoked ci deploys\n")
    );
    fails_with(
        &as_token(&token, &["auth:whoami"]),
        "Invalid credentials provided.",
    );
    fails_with(
        &kumo(&server, &["authorizations:info", &id]),
        "Couldn't find that authorization",
    );

    // Expired: the command fails, saying how to get a new token, and changes nothing.
    let brief = stdout(&kumo(&server, &["authorizations:create", "-S", "-e", "1"]));
    let brief = brief.trim();
    crate::api::wait_until_refused(&server, brief);
    let out = as_token(brief, &["apps:create", "too-late"]);
    fails_with(&out, "this API token expired at");
    fails_with(&out, "kumo authorizations:create");
    assert_eq!(stdout(&kumo(&server, &["apps"])), "=== My Apps\n");
    let listed = stdout(&kumo(&server, &["authorizations"]));
    assert!(listed.contains("  global  expired\n"), "{listed}");
}
