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
