//! Single sign-on over HTTP against a real `berth serve` and a test OpenID
//! provider on loopback (discovery, keys, a token endpoint and userinfo
//! answering what each case needs): a first sign-in creates the user,
//! groups give teams and the admin flag and taking them away takes both
//! (audited); then every forgery is refused with a clear page: a tampered
//! state, a browser that did not begin, a wrong nonce, an expired ID token,
//! a key the provider does not publish, another client's token, a code the
//! provider refuses (replayed); a local account is never taken over; the
//! failures are rate limited; logout goes on to the provider's.
//! The real provider and Chromium are in tests/browser/sso.test.mjs.

use berth_testkit::oidc::unix_now;
use berth_testkit::{Answer, Launch, Reply, Server, SigningKey, Stores, TestIssuer};
use serde_json::{json, Value};

#[path = "support/browser.rs"]
mod browser;
use browser::{team_members, Browser};

const CLIENT: &str = "berth";
const SECRET: &str = "client-secret-for-tests";

/// A provider: the test issuer with an authorization, token, userinfo and
/// end-session endpoint in its discovery document.
fn provider(key: &SigningKey) -> TestIssuer {
    let issuer = TestIssuer::start(&[key]);
    let url = issuer.url().to_string();
    issuer.fixture.answer(
        "/.well-known/openid-configuration",
        Answer::ok(
            json!({
                "issuer": url,
                "jwks_uri": format!("{url}/jwks"),
                "authorization_endpoint": format!("{url}/authorize"),
                "token_endpoint": format!("{url}/token"),
                "userinfo_endpoint": format!("{url}/userinfo"),
                "end_session_endpoint": format!("{url}/logout"),
            })
            .to_string(),
        ),
    );
    issuer
}

fn server(issuer: &TestIssuer, password_login: bool) -> Server {
    let toml = format!(
        "[auth]\npassword_login = {password_login}\n\n[auth.oidc]\nissuer = \"{}\"\n\
         client_id = \"{CLIENT}\"\nclient_secret_env = \"BERTH_OIDC_CLIENT_SECRET\"\n\
         admin_groups = [\"registry-admins\"]\n\
         teams = {{ \"platform-eng\" = \"platform\", \"security\" = \"security\" }}\n",
        issuer.url()
    );
    let launch = Launch {
        env: vec![("BERTH_OIDC_CLIENT_SECRET".into(), SECRET.into())],
        ..Launch::default()
    };
    Server::launch(Stores::new(), &toml, launch).unwrap_or_else(|log| panic!("{log}"))
}

/// A query parameter of a URL.
fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no `{name}` in {url}"))
}

/// Begins a sign-in: the provider's authorization URL.
fn begin(b: &mut Browser<'_>) -> String {
    let r = b.get("/login/oidc", 303);
    r.header("location").unwrap().to_string()
}

/// ID token claims for `login` in `groups`, for the nonce of `authorize`.
fn claims(issuer: &TestIssuer, authorize: &str, login: &str, groups: &[&str]) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer.url(),
        "aud": CLIENT,
        "sub": format!("subject-{login}"),
        "iat": now,
        "exp": now + 300,
        "nonce": param(authorize, "nonce"),
        "preferred_username": login,
        "name": format!("{login} Example"),
        "groups": groups,
    })
}

/// The provider answers the code with `id_token`.
fn token_answer(issuer: &TestIssuer, id_token: &str) {
    issuer.fixture.answer(
        "/token",
        Answer::json(
            "200 OK",
            json!({"access_token": "access", "token_type": "Bearer", "id_token": id_token})
                .to_string(),
        ),
    );
}

/// Comes back from the provider with `code` and `state`.
fn callback(b: &mut Browser<'_>, state: &str, status: u16) -> Reply {
    b.get(
        &format!("/login/oidc/callback?code=the-code&state={state}"),
        status,
    )
}

/// Signs in as `login` in `groups`; the browser holds the session.
fn sign_in(
    b: &mut Browser<'_>,
    issuer: &TestIssuer,
    key: &SigningKey,
    login: &str,
    groups: &[&str],
) {
    let authorize = begin(b);
    token_answer(
        issuer,
        &key.sign(&claims(issuer, &authorize, login, groups)),
    );
    let r = callback(b, &param(&authorize, "state"), 303);
    assert_eq!(r.header("location"), Some("/account"), "{}", r.text);
    assert!(b.cookies.contains_key("berth_session"));
}

#[test]
fn sign_in_creates_users_and_groups_decide_teams_and_the_admin_flag() {
    let key = SigningKey::rsa("idp-1");
    let issuer = provider(&key);
    let server = server(&issuer, true);

    // The login page offers single sign-on next to the password form.
    let mut b = Browser::new(&server);
    let page = b.get("/login", 200).text;
    assert!(page.contains("href=\"/login/oidc\""), "{page}");
    assert!(page.contains("Sign in with single sign-on"));
    assert!(page.contains("name=\"password\""));

    // The authorization request: code flow, PKCE, state and nonce, this
    // server's callback.
    let authorize = begin(&mut b);
    assert!(authorize.starts_with(&format!("{}/authorize?", issuer.url())));
    assert_eq!(param(&authorize, "response_type"), "code");
    assert_eq!(param(&authorize, "client_id"), CLIENT);
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    assert_eq!(param(&authorize, "code_challenge").len(), 43);
    assert_eq!(
        param(&authorize, "redirect_uri"),
        format!("{}/login/oidc/callback", server.url)
    );
    assert!(param(&authorize, "scope").split(' ').any(|s| s == "openid"));
    assert_ne!(param(&authorize, "state"), param(&authorize, "nonce"));

    // First sign-in: alice is made, in team `platform`, not an admin.
    token_answer(
        &issuer,
        &key.sign(&claims(
            &issuer,
            &authorize,
            "alice",
            &["platform-eng", "other"],
        )),
    );
    let r = callback(&mut b, &param(&authorize, "state"), 303);
    assert_eq!(r.header("location"), Some("/account"));
    let account = b.get("/account", 200).text;
    assert!(account.contains("alice"), "{account}");
    assert_eq!(team_members(&server, "platform"), vec!["alice"]);
    assert!(team_members(&server, "security").is_empty());
    b.get("/admin", 403);

    // Groups change at the provider: the next sign-in follows them.
    let mut b = Browser::new(&server);
    sign_in(
        &mut b,
        &issuer,
        &key,
        "alice",
        &["security", "registry-admins"],
    );
    assert!(team_members(&server, "platform").is_empty());
    assert_eq!(team_members(&server, "security"), vec!["alice"]);
    b.get("/admin", 200);
    let mut b = Browser::new(&server);
    sign_in(&mut b, &issuer, &key, "alice", &[]);
    assert!(team_members(&server, "security").is_empty());
    b.get("/admin", 403);

    // Each change is in the audit log, by alice, from her address.
    let audit = server.audit_json(&[]);
    let rows =
        |action: &str| -> Vec<&Value> { audit.iter().filter(|r| r["action"] == action).collect() };
    let created = rows("user.create");
    assert!(
        created.iter().any(|r| r["detail"]
            .as_str()
            .unwrap()
            .contains("login=alice admin=false at first oidc sign-in")),
        "{created:?}"
    );
    let removed = rows("team.member_remove");
    assert!(
        removed.iter().any(|r| r["actor"] == "alice"
            && r["detail"].as_str().unwrap().contains("team=platform")
            && r["client_addr"] == "127.0.0.1"),
        "{removed:?}"
    );
    assert_eq!(rows("user.admin").len(), 2, "{audit:?}");
    let logins: Vec<&Value> = rows("session.login")
        .into_iter()
        .filter(|r| r["outcome"] == "ok")
        .collect();
    assert_eq!(logins.len(), 3, "{logins:?}");
    assert!(logins
        .iter()
        .all(|r| r["detail"] == "single sign-on sign-in" && r["actor"] == "alice"));

    // Claims the ID token lacks come from userinfo (for the same subject).
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    let mut bare = claims(&issuer, &authorize, "dave", &[]);
    bare.as_object_mut().unwrap().remove("preferred_username");
    bare.as_object_mut().unwrap().remove("groups");
    issuer.fixture.answer(
        "/userinfo",
        Answer::json(
            "200 OK",
            json!({"sub": "subject-dave", "preferred_username": "dave", "groups": ["platform-eng"]})
                .to_string(),
        ),
    );
    token_answer(&issuer, &key.sign(&bare));
    callback(&mut b, &param(&authorize, "state"), 303);
    assert_eq!(team_members(&server, "platform"), vec!["dave"]);

    // Logout ends the session and goes on to the provider's.
    let page = b.get("/account", 200).text;
    let csrf = browser::csrf(&page);
    // (From a page of this site: the pages' CSP keeps form posts here.)
    let r = b.post("/logout", &[("csrf", &csrf)], 200);
    let marker = "id=\"provider-logout\" href=\"";
    let at = r.text.find(marker).expect("a link on") + marker.len();
    let to = r.text[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    assert!(to.starts_with(&format!("{}/logout?", issuer.url())), "{to}");
    assert!(
        r.text.contains("<meta http-equiv=\"refresh\""),
        "{}",
        r.text
    );
    assert_eq!(param(&to, "client_id"), CLIENT);
    assert_eq!(
        param(&to, "post_logout_redirect_uri"),
        format!("{}/", server.url)
    );
    assert!(!b.cookies.contains_key("berth_session"));
    let r = b.get("/account", 303);
    assert_eq!(r.header("location"), Some("/login"));
}

#[test]
fn forged_or_replayed_sign_ins_are_refused_and_counted() {
    let key = SigningKey::rsa("idp-1");
    let rogue = SigningKey::ec("rogue");
    let issuer = provider(&key);
    let server = server(&issuer, false);

    // With passwords turned off, the login page goes to the provider.
    let mut b = Browser::new(&server);
    let r = b.get("/login", 303);
    assert_eq!(r.header("location"), Some("/login/oidc"));

    let refused = |b: &mut Browser<'_>, status: u16, state: Option<&str>, want: &str| {
        let authorize = begin(b);
        let state = state.map_or_else(|| param(&authorize, "state"), str::to_string);
        let r = callback(b, &state, status);
        assert!(r.text.contains(want), "wanted `{want}` in:\n{}", r.text);
        assert!(!b.cookies.contains_key("berth_session"));
        authorize
    };
    let good = |authorize: &str| key.sign(&claims(&issuer, authorize, "erin", &[]));

    // A tampered state.
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    token_answer(&issuer, &good(&authorize));
    let r = callback(&mut b, "tampered-state-tampered-state-00", 401);
    assert!(r.text.contains("state does not match"), "{}", r.text);

    // A browser that did not begin the sign-in (login CSRF).
    let mut stranger = Browser::new(&server);
    let r = callback(&mut stranger, &param(&authorize, "state"), 401);
    assert!(
        r.text.contains("this browser did not start the sign-in"),
        "{}",
        r.text
    );

    // A wrong nonce.
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    let mut c = claims(&issuer, &authorize, "erin", &[]);
    c["nonce"] = json!("another-nonce");
    token_answer(&issuer, &key.sign(&c));
    let r = callback(&mut b, &param(&authorize, "state"), 401);
    assert!(r.text.contains("nonce does not match"), "{}", r.text);

    // An expired ID token.
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    let mut c = claims(&issuer, &authorize, "erin", &[]);
    c["exp"] = json!(unix_now() - 3600);
    c["iat"] = json!(unix_now() - 7200);
    token_answer(&issuer, &key.sign(&c));
    let r = callback(&mut b, &param(&authorize, "state"), 401);
    assert!(r.text.contains("has expired"), "{}", r.text);

    // A key the provider does not publish.
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    token_answer(
        &issuer,
        &rogue.sign(&claims(&issuer, &authorize, "erin", &[])),
    );
    let r = callback(&mut b, &param(&authorize, "state"), 401);
    assert!(
        r.text.contains("key `rogue`, which its issuer"),
        "{}",
        r.text
    );

    // A token issued to another client.
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    let mut c = claims(&issuer, &authorize, "erin", &[]);
    c["aud"] = json!("another-client");
    token_answer(&issuer, &key.sign(&c));
    let r = callback(&mut b, &param(&authorize, "state"), 401);
    assert!(r.text.contains("issued to another client"), "{}", r.text);

    // A code the provider refuses (used already).
    let mut b = Browser::new(&server);
    issuer.fixture.answer(
        "/token",
        Answer::json(
            "400 Bad Request",
            json!({"error": "invalid_grant", "error_description": "grant request is invalid"})
                .to_string(),
        ),
    );
    refused(
        &mut b,
        401,
        None,
        "the provider refused the authorization code (invalid_grant",
    );

    // A local account is not taken over by an identity of the same login.
    server.add_user("frank", false);
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    token_answer(
        &issuer,
        &key.sign(&claims(&issuer, &authorize, "frank", &[])),
    );
    let r = callback(&mut b, &param(&authorize, "state"), 403);
    assert!(
        r.text.contains("a local account `frank` already exists"),
        "{}",
        r.text
    );

    // A disabled user does not sign in.
    let mut b = Browser::new(&server);
    sign_in(&mut b, &issuer, &key, "gina", &[]);
    server.try_berth(&["user", "disable", "gina"]).unwrap();
    b.get("/account", 303);
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    token_answer(
        &issuer,
        &key.sign(&claims(&issuer, &authorize, "gina", &[])),
    );
    let r = callback(&mut b, &param(&authorize, "state"), 403);
    assert!(r.text.contains("disabled"), "{}", r.text);

    // Every refusal is audited as a denied sign-in.
    let denied: Vec<Value> = server
        .audit_json(&[])
        .into_iter()
        .filter(|r| r["action"] == "session.login" && r["outcome"] == "denied")
        .collect();
    for want in [
        "state does not match",
        "nonce",
        "has expired",
        "rogue",
        "invalid_grant",
    ] {
        assert!(
            denied
                .iter()
                .any(|r| r["detail"].as_str().unwrap_or("").contains(want)),
            "no denied row mentions `{want}`: {denied:?}"
        );
    }

    // Failed callbacks (not the refusals of a person the provider vouched
    // for) count against the address: 20 in the window, then 429 however
    // good the next one is.
    let failed_so_far = 7;
    for i in failed_so_far..20 {
        let mut b = Browser::new(&server);
        let state = format!("tampered-state-{i:017}");
        refused(&mut b, 401, Some(&state), "state does not match");
    }
    let mut b = Browser::new(&server);
    let authorize = begin(&mut b);
    token_answer(&issuer, &good(&authorize));
    let r = callback(&mut b, &param(&authorize, "state"), 429);
    assert!(r.text.contains("Too many failed sign-ins"), "{}", r.text);
}
