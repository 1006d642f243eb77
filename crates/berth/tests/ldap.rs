//! Sign-in against a real directory (Debian's slapd on loopback, with its
//! own data) through the web UI's password form: a directory user signs in
//! and is created, their groups give a team and the admin flag and taking
//! them away takes both (audited); a wrong password and a login built to
//! widen the search filter (`*)(uid=*`) find nobody; a local account is
//! never taken over; failed binds are rate limited; a user removed from
//! the directory can no longer sign in and their open session ends; local
//! users with a password sign in whether or not the directory answers.
//! Over TLS: StartTLS on `ldap://` and `ldaps://` with the directory's CA
//! sign in; a certificate the client does not trust is a clear 502 (with
//! StartTLS as with ldaps://) and creates nobody.

use std::path::Path;
use std::time::Instant;

use berth_testkit::{Launch, Server, Stores, TestDirectory};
use serde_json::Value;

#[path = "support/browser.rs"]
mod browser;
use browser::{csrf, team_members, Browser};

fn server(dir: &TestDirectory) -> Server {
    server_at(dir, &dir.url(), false, None)
}

/// A server (with stores of its own) whose `[auth.ldap]` asks `dir` at
/// `url`, with this `starttls` and, when given, this `ca_file`.
fn server_at(dir: &TestDirectory, url: &str, starttls: bool, ca_file: Option<&Path>) -> Server {
    let ca_file = ca_file
        .map(|path| format!("ca_file = \"{}\"\n", path.display()))
        .unwrap_or_default();
    let toml = format!(
        "[auth.ldap]\nurl = \"{url}\"\nstarttls = {starttls}\n{ca_file}bind_dn = \"{}\"\n\
         bind_password_env = \"BERTH_LDAP_PASSWORD\"\nuser_base = \"{}\"\ngroup_base = \"{}\"\n\
         admin_groups = [\"registry-admins\"]\nteams = {{ \"platform-eng\" = \"platform\" }}\n",
        dir.bind_dn(),
        dir.user_base(),
        dir.group_base()
    );
    let launch = Launch {
        env: vec![("BERTH_LDAP_PASSWORD".into(), dir.bind_password())],
        ..Launch::default()
    };
    Server::launch(Stores::new(), &toml, launch).unwrap_or_else(|log| panic!("{log}"))
}

/// Posts the login form: the answer.
fn try_login(b: &mut Browser<'_>, login: &str, password: &str, status: u16) -> String {
    let page = b.get("/login", 200);
    let token = csrf(&page.text);
    let r = b.post(
        "/login",
        &[("csrf", &token), ("login", login), ("password", password)],
        status,
    );
    if status == 303 {
        assert_eq!(r.header("location"), Some("/account"));
    }
    r.text
}

#[test]
fn directory_users_sign_in_with_their_groups_and_lose_access_when_removed() {
    let dir = TestDirectory::start();
    dir.add_user("alice", "alice-directory-pw", "Alice Example");
    dir.add_user("bob", "bob-directory-pw", "Bob Example");
    dir.add_user("dave", "dave-directory-pw", "Dave Example");
    dir.add_group("platform-eng", &["alice"]);
    dir.add_group("registry-admins", &["alice"]);
    let mut server = server(&dir);

    // alice signs in with her directory password: created, in `platform`,
    // a server administrator.
    let mut b = Browser::new(&server);
    try_login(&mut b, "alice", "alice-directory-pw", 303);
    let account = b.get("/account", 200).text;
    assert!(account.contains("alice"), "{account}");
    assert_eq!(team_members(&server, "platform"), vec!["alice"]);
    b.get("/admin", 200);
    let users = server.try_berth(&["user", "list"]).unwrap();
    assert!(users.contains("alice\tadmin\tsign-in=ldap"), "{users}");

    // A wrong password, a login made to widen the filter, an unknown login:
    // each is the same refusal.
    let mut b = Browser::new(&server);
    for (login, password) in [
        ("bob", "not-bobs-password"),
        ("*)(uid=*", "alice-directory-pw"),
        ("*", "bob-directory-pw"),
        ("nobody", "whatever-password"),
    ] {
        let page = try_login(&mut b, login, password, 401);
        assert!(page.contains("wrong login or password"), "{login}: {page}");
    }
    assert!(
        !server.try_berth(&["user", "list"]).unwrap().contains("bob"),
        "a refused sign-in creates nobody"
    );
    let denied: Vec<Value> = server
        .audit_json(&[])
        .into_iter()
        .filter(|r| r["action"] == "session.login" && r["outcome"] == "denied")
        .collect();
    assert!(
        denied.iter().any(|r| r["detail"]
            .as_str()
            .unwrap_or("")
            .contains("the directory has no such account")
            && r["detail"].as_str().unwrap_or("").contains("*)(uid=*")),
        "{denied:?}"
    );

    // Five failed binds for one login, then 429 even with its password.
    let mut b = Browser::new(&server);
    for _ in 0..4 {
        try_login(&mut b, "bob", "still-wrong-password", 401);
    }
    let page = try_login(&mut b, "bob", "bob-directory-pw", 429);
    assert!(page.contains("Too many failed logins"), "{page}");

    // Groups change in the directory: the next sign-in follows them.
    dir.set_members("platform-eng", &["bob"]);
    dir.set_members("registry-admins", &["bob"]);
    let mut b = Browser::new(&server);
    try_login(&mut b, "alice", "alice-directory-pw", 303);
    assert!(team_members(&server, "platform").is_empty());
    b.get("/admin", 403);
    let audit = server.audit_json(&[]);
    assert!(
        audit.iter().any(|r| r["action"] == "team.member_remove"
            && r["actor"] == "alice"
            && r["detail"]
                .as_str()
                .unwrap()
                .contains("leaves with the ldap groups")),
        "{audit:?}"
    );
    assert!(audit.iter().any(|r| r["action"] == "session.login"
        && r["outcome"] == "ok"
        && r["detail"] == "directory sign-in"));

    // A local account of a directory login is not taken over.
    server.add_user("carol", false);
    dir.add_user("carol", "carol-directory-pw", "Carol Example");
    let page = try_login(
        &mut Browser::new(&server),
        "carol",
        "carol-directory-pw",
        403,
    );
    assert!(
        page.contains("a local account `carol` already exists"),
        "{page}"
    );

    // A local user with a password signs in without the directory.
    server.add_user("root", true);
    server.set_password("root", "root-local-password");
    try_login(
        &mut Browser::new(&server),
        "root",
        "root-local-password",
        303,
    );

    // alice is removed from the directory: she cannot sign in, and her
    // open session ends when it is next checked (at once on a new node
    // process, then every 5 minutes).
    let mut b = Browser::new(&server);
    try_login(&mut b, "alice", "alice-directory-pw", 303);
    let cookies = b.cookies.clone();
    dir.delete_user("alice");
    try_login(
        &mut Browser::new(&server),
        "alice",
        "alice-directory-pw",
        401,
    );
    server.restart_at_same_address();
    let mut b = Browser::new(&server);
    b.cookies = cookies;
    let r = b.get("/account", 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert!(server.audit_json(&[]).iter().any(|r| r["actor"] == "alice"
        && r["detail"]
            .as_str()
            .unwrap_or("")
            .contains("the directory no longer has this account")));

    // The directory goes away: its users get a clear error, local users
    // still sign in.
    drop(dir);
    let page = try_login(&mut Browser::new(&server), "dave", "dave-directory-pw", 502);
    assert!(
        page.contains("the directory (LDAP) could not be asked"),
        "{page}"
    );
    try_login(
        &mut Browser::new(&server),
        "root",
        "root-local-password",
        303,
    );
}

#[test]
fn the_directory_is_reached_over_tls_and_an_untrusted_certificate_is_refused() {
    let started = Instant::now();
    let dir = TestDirectory::start_tls();
    let ldaps = dir
        .ldaps_url()
        .expect("a TLS directory has an ldaps:// URL");
    let ca = dir.ca_file();
    dir.add_user("erin", "erin-directory-pw", "Erin Example");
    dir.add_group("platform-eng", &["erin"]);
    eprintln!("slapd with TLS up in {:?}", started.elapsed());

    // Trusting the directory's CA: StartTLS on ldap://, then ldaps://.
    // Each start has stores of its own, so each sign-in creates erin.
    for (url, starttls) in [(dir.url(), true), (ldaps.clone(), false)] {
        let step = Instant::now();
        let server = server_at(&dir, &url, starttls, Some(&ca));
        let mut b = Browser::new(&server);
        try_login(&mut b, "erin", "erin-directory-pw", 303);
        let account = b.get("/account", 200).text;
        assert!(account.contains("erin"), "{url}: {account}");
        let users = server.try_berth(&["user", "list"]).unwrap();
        assert!(users.contains("\terin\tsign-in=ldap"), "{url}: {users}");
        assert_eq!(team_members(&server, "platform"), vec!["erin"], "{url}");
        eprintln!(
            "{url} (starttls = {starttls}, ca_file): signed in, {:?}",
            step.elapsed()
        );
    }

    // Without ca_file the system's roots are used, and they do not trust
    // the throwaway CA: over ldaps:// and over StartTLS (which shows the
    // StartTLS sign-in above did upgrade), the same clear refusal, and
    // nobody is created.
    for (url, starttls) in [(ldaps.clone(), false), (dir.url(), true)] {
        let step = Instant::now();
        let server = server_at(&dir, &url, starttls, None);
        let page = try_login(&mut Browser::new(&server), "erin", "erin-directory-pw", 502);
        assert!(
            page.contains("the directory (LDAP) could not be asked"),
            "{url}: {page}"
        );
        // Refused at the TLS handshake, for the certificate (rustls:
        // "invalid peer certificate: UnknownIssuer").
        assert!(
            page.contains(&format!("connecting to {url}"))
                && page.contains("invalid peer certificate"),
            "{url}: {page}"
        );
        let users = server.try_berth(&["user", "list"]).unwrap();
        assert!(
            !users.contains("erin"),
            "{url}: a refused sign-in created erin: {users}"
        );
        let why = page
            .lines()
            .find(|l| l.contains("could not be asked"))
            .unwrap_or_default()
            .trim();
        eprintln!(
            "{url} (starttls = {starttls}, system roots): refused in {:?}: {why}",
            step.elapsed()
        );
    }
}
