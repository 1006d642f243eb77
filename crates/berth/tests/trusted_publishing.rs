//! Trusted publishing end to end: a test OIDC issuer on loopback (RS256 and
//! ES256 keys, a rotation), `berth trust add`, the exchange endpoint of the
//! public registry's API, and the real cargo publishing with the exchanged
//! token; then every forgery and mismatch refused with a clear message.

use berth_testkit::oidc::unix_now;
use berth_testkit::{Cargo, Server, SigningKey, TestIssuer};
use serde_json::{json, Value};

const AUDIENCE: &str = "berth-test";

fn config(issuer: &TestIssuer) -> String {
    format!(
        "[[trusted_publishing.issuers]]\nname = \"ci\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\n",
        issuer.url()
    )
}

/// `POST /r/main/api/v1/trusted_publishing/tokens`: status and body.
fn exchange(server: &Server, jwt: &str) -> (u16, Value) {
    let reply = server
        .request(
            reqwest::Method::POST,
            "/r/main/api/v1/trusted_publishing/tokens",
        )
        .header("Content-Type", "application/json")
        .json(&json!({ "jwt": jwt }))
        .send()
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().unwrap_or(Value::Null))
}

fn token_of(server: &Server, jwt: &str) -> String {
    let (status, body) = exchange(server, jwt);
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn refusal(server: &Server, jwt: &str, status: u16) -> String {
    let (got, body) = exchange(server, jwt);
    assert_eq!(got, status, "{body}");
    body["errors"][0]["detail"].as_str().unwrap().to_string()
}

/// `berth trust add CRATE --registry main --issuer ISSUER --repository
/// REPO --workflow FILE` and `extra` arguments: its output, or its error.
fn trust_add(
    server: &Server,
    krate: &str,
    issuer: &str,
    repository: &str,
    workflow: &str,
    extra: &[&str],
) -> Result<String, String> {
    let mut args = vec![
        "trust",
        "add",
        krate,
        "--registry",
        "main",
        "--issuer",
        issuer,
        "--repository",
        repository,
        "--workflow",
        workflow,
    ];
    args.extend_from_slice(extra);
    server.try_berth(&args)
}

#[test]
fn a_ci_job_publishes_with_an_exchanged_token_and_forgeries_are_refused() {
    let es = SigningKey::ec("es-1");
    let rs = SigningKey::rsa("rs-1");
    let issuer = TestIssuer::start(&[&es, &rs]);
    let server = Server::start_with_config(&config(&issuer));
    let alice = server.user_with_token("alice");
    let owner = Cargo::new(&server).with_token(&alice);
    owner.published("tool", "1.0.0");

    // Without a configuration, nothing is trusted.
    let claims = issuer.claims(AUDIENCE, "acme/tool", "release.yml");
    let detail = refusal(&server, &es.sign(&claims), 403);
    assert!(
        detail.contains("no crate of registry `main` trusts repository `acme/tool`")
            && detail.contains("berth trust add"),
        "{detail}"
    );

    let added = trust_add(&server, "tool", "ci", "Acme/Tool", "release.yml", &[]).unwrap();
    assert!(added.contains("tokens act for `alice`"), "{added}");
    let listed = server.json_lines(&["trust", "list", "tool", "--registry", "main", "--json"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["repository"], "acme/tool");
    assert_eq!(listed[0]["acts_for"], "alice");

    // ES256: the exchanged token publishes with the real cargo, and the
    // version records where it came from.
    let token = token_of(
        &server,
        &es.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml")),
    );
    assert!(token.starts_with("berth_"));
    let ci = Cargo::new(&server).with_token(&token);
    let dir = ci.package("tool", "1.1.0", "", "");
    ci.publish(&dir);
    let detail = server
        .get_as("/api/v1/registries/main/crates/tool", Some(&alice))
        .json();
    let versions = detail["versions"].as_array().unwrap();
    let by_ci = &versions.iter().find(|v| v["vers"] == "1.1.0").unwrap()["trusted_publisher"];
    assert_eq!(by_ci["repository"], "acme/tool", "{detail}");
    assert_eq!(by_ci["workflow"], "release.yml");
    assert_eq!(by_ci["sha"], "0123456789abcdef0123456789abcdef01234567");
    assert!(versions.iter().find(|v| v["vers"] == "1.0.0").unwrap()["trusted_publisher"].is_null());
    let page = server.get("/r/main/crates/tool/1.1.0").text().unwrap();
    assert!(
        page.contains(
            "trusted publishing: CI from acme/tool, workflow release.yml, commit 0123456789ab"
        ),
        "the crate page says where the version came from"
    );
    // It publishes nothing else.
    let other = ci.package("unrelated", "0.1.0", "", "");
    let out = ci.publish_refused(&other, "main");
    assert!(out.contains("unrelated"), "{out}");

    // Only CI from now on: the owner's own token is refused.
    server
        .try_berth(&["trust", "only", "tool", "--registry", "main"])
        .unwrap();
    let dir = owner.package("tool", "1.1.5", "", "");
    let out = owner.publish_refused(&dir, "main");
    assert!(
        out.contains("published only through trusted publishing"),
        "{out}"
    );
    assert_eq!(server.audit_json(&["--action", "trust.only"]).len(), 1);

    // RS256 works too; the token revokes itself.
    let token = token_of(
        &server,
        &rs.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml")),
    );
    let revoked = server
        .request(
            reqwest::Method::DELETE,
            "/r/main/api/v1/trusted_publishing/tokens",
        )
        .header("Authorization", &token)
        .send()
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    let ci = Cargo::new(&server).with_token(&token);
    let dir = ci.package("tool", "1.2.0", "", "");
    let out = ci.publish_refused(&dir, "main");
    assert!(out.contains("not valid"), "{out}");
    // An ordinary token cannot be revoked there.
    let not_trusted = server
        .request(
            reqwest::Method::DELETE,
            "/r/main/api/v1/trusted_publishing/tokens",
        )
        .header("Authorization", &alice)
        .send()
        .unwrap();
    assert_eq!(not_trusted.status().as_u16(), 400);

    // Mismatches and forgeries, each with its reason.
    let wrong_repo = issuer.claims(AUDIENCE, "evil/tool", "release.yml");
    assert!(refusal(&server, &es.sign(&wrong_repo), 403).contains("`evil/tool`"));
    let wrong_workflow = issuer.claims(AUDIENCE, "acme/tool", "ci.yml");
    assert!(refusal(&server, &es.sign(&wrong_workflow), 403).contains("workflow `ci.yml`"));
    let wrong_audience = issuer.claims("someone-else", "acme/tool", "release.yml");
    assert!(refusal(&server, &es.sign(&wrong_audience), 401).contains("audience"));
    let mut no_audience = issuer.claims(AUDIENCE, "acme/tool", "release.yml");
    no_audience.as_object_mut().unwrap().remove("aud");
    assert!(refusal(&server, &es.sign(&no_audience), 401).contains("no `aud` claim"));
    let mut expired = issuer.claims(AUDIENCE, "acme/tool", "release.yml");
    expired["exp"] = json!(unix_now() - 3600);
    expired["iat"] = json!(unix_now() - 4000);
    expired["nbf"] = json!(unix_now() - 4000);
    assert!(refusal(&server, &es.sign(&expired), 401).contains("expired"));
    let once = es.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml"));
    token_of(&server, &once);
    assert!(refusal(&server, &once, 401).contains("exchanged before"));
    let claims = issuer.claims(AUDIENCE, "acme/tool", "release.yml");
    assert!(refusal(&server, &TestIssuer::unsigned("es-1", &claims), 401).contains("none"));
    let confused = TestIssuer::hmac_with_public_key(&rs, &claims);
    assert!(refusal(&server, &confused, 401).contains("HS256"));
    let stranger = SigningKey::ec("stranger");
    let fetches = issuer.jwks_fetches();
    let detail = refusal(&server, &stranger.sign(&claims), 401);
    assert!(detail.contains("key `stranger`"), "{detail}");
    let mut tampered = es.sign(&claims);
    tampered.push('A');
    assert!(refusal(&server, &tampered, 401).contains("signature"));
    // Unknown keys do not make the server fetch the issuer's keys again
    // and again.
    assert!(issuer.jwks_fetches() <= fetches + 1);
    let mut foreign = claims.clone();
    foreign["iss"] = json!("https://somewhere.invalid");
    assert!(refusal(&server, &es.sign(&foreign), 401).contains("not trusted"));

    // The issuer rotates to a new key: after the server's next fetch
    // (here, a restart), tokens signed with it work.
    let es2 = SigningKey::ec("es-2");
    issuer.publish(&[&es2, &rs]);
    let mut server = server;
    server.restart();
    token_of(
        &server,
        &es2.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml")),
    );
    assert!(refusal(
        &server,
        &es.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml")),
        401
    )
    .contains("key `es-1`"));

    // Every exchange is in the audit log, refusals with their reasons.
    let audit = server.audit_json(&["--action", "trust.exchange"]);
    assert!(audit.iter().any(|e| e["outcome"] == "ok"));
    assert!(audit
        .iter()
        .any(|e| e["outcome"] == "denied" && e["detail"].as_str().unwrap().contains("audience")));

    // GitLab CI's claims: a project in a subgroup, its pipeline file.
    trust_add(
        &server,
        "tool",
        "ci",
        "acme/platform/tool",
        ".gitlab-ci.yml",
        &[],
    )
    .unwrap();
    let mut gitlab = issuer.claims(AUDIENCE, "unused/unused", "unused.yml");
    for claim in ["repository", "workflow_ref", "job_workflow_ref", "run_id"] {
        gitlab.as_object_mut().unwrap().remove(claim);
    }
    gitlab["project_path"] = json!("acme/platform/tool");
    gitlab["ci_config_ref_uri"] =
        json!("git.example/acme/platform/tool//.gitlab-ci.yml@refs/tags/v1.3.0");
    gitlab["pipeline_id"] = json!("777");
    let token = token_of(&server, &es2.sign(&gitlab));
    let ci = Cargo::new(&server).with_token(&token);
    let dir = ci.package("tool", "1.3.0", "", "");
    ci.publish(&dir);
    let detail = server
        .get_as("/api/v1/registries/main/crates/tool", Some(&alice))
        .json();
    let by_gitlab = &detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vers"] == "1.3.0")
        .unwrap()["trusted_publisher"];
    assert_eq!(by_gitlab["repository"], "acme/platform/tool", "{detail}");
    assert_eq!(by_gitlab["workflow"], ".gitlab-ci.yml");
    assert_eq!(by_gitlab["run_id"], "777");

    // Removing the configuration ends it.
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    server
        .try_berth(&["trust", "remove", "tool", "--registry", "main", "--id", &id])
        .unwrap();
    refusal(
        &server,
        &es2.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml")),
        403,
    );
}

#[test]
fn a_pending_configuration_lets_ci_create_a_crate_for_the_admin_who_made_it() {
    let es = SigningKey::ec("es-1");
    let issuer = TestIssuer::start(&[&es]);
    let server = Server::start_with_config(&config(&issuer));
    server.add_user("root", true);
    server.user_with_token("bob");

    // Only an admin may trust a CI identity with a crate not yet made.
    let refused = trust_add(
        &server,
        "fresh",
        "ci",
        "acme/fresh",
        "publish.yaml",
        &["--environment", "prod", "--user", "bob"],
    )
    .unwrap_err();
    assert!(
        refused.contains("not an admin of registry `main`"),
        "{refused}"
    );
    let missing_user =
        trust_add(&server, "fresh", "ci", "acme/fresh", "publish.yaml", &[]).unwrap_err();
    assert!(missing_user.contains("--user"), "{missing_user}");
    let unknown_issuer = trust_add(
        &server,
        "fresh",
        "gitlab",
        "acme/fresh",
        "publish.yaml",
        &["--user", "root"],
    )
    .unwrap_err();
    assert!(
        unknown_issuer.contains("no OIDC issuer `gitlab`"),
        "{unknown_issuer}"
    );
    trust_add(
        &server,
        "fresh",
        "ci",
        "acme/fresh",
        "publish.yaml",
        &["--environment", "prod", "--user", "root"],
    )
    .unwrap();

    // The environment is required.
    let claims = issuer.claims(AUDIENCE, "acme/fresh", "publish.yaml");
    assert!(refusal(&server, &es.sign(&claims), 403).contains("`acme/fresh`"));
    let mut in_prod = issuer.claims(AUDIENCE, "acme/fresh", "publish.yaml");
    in_prod["environment"] = json!("prod");
    let token = token_of(&server, &es.sign(&in_prod));
    let ci = Cargo::new(&server).with_token(&token);
    let dir = ci.package("fresh", "0.1.0", "", "");
    ci.publish(&dir);
    let owners = server
        .get_as("/r/main/api/v1/crates/fresh/owners", None)
        .json();
    assert_eq!(owners["users"][0]["login"], "root", "{owners}");

    // Removing the user a configuration acts for removes it too.
    server.add_user("carol", true);
    trust_add(
        &server,
        "later",
        "ci",
        "acme/later",
        "release.yml",
        &["--user", "carol"],
    )
    .unwrap();
    server.try_berth(&["user", "remove", "carol"]).unwrap();
    let left = server.json_lines(&["trust", "list", "later", "--registry", "main", "--json"]);
    assert!(left.is_empty(), "{left:?}");
    let mut for_carol = issuer.claims(AUDIENCE, "acme/later", "release.yml");
    for_carol["environment"] = json!("prod");
    refusal(&server, &es.sign(&for_carol), 403);
}

/// `POST` an exchange from the loopback address `from` (another client).
fn exchange_from(from: &str, server: &Server, jwt: &str) -> u16 {
    berth_testkit::attack::http_from(from)
        .post(format!(
            "{}/r/main/api/v1/trusted_publishing/tokens",
            server.url
        ))
        .json(&json!({ "jwt": jwt }))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn failed_exchanges_throttle_their_address_only() {
    let es = SigningKey::ec("es-1");
    let issuer = TestIssuer::start(&[&es]);
    let server = Server::start_with_config(&format!(
        "{}[limits]\nauth_failures_per_address = 3\n",
        config(&issuer)
    ));
    server.user_with_token("alice");
    let owner_token = server.token("alice", &[]);
    Cargo::new(&server)
        .with_token(&owner_token)
        .published("tool", "1.0.0");
    trust_add(&server, "tool", "ci", "acme/tool", "release.yml", &[]).unwrap();
    let forged = TestIssuer::unsigned("es-1", &issuer.claims(AUDIENCE, "acme/tool", "release.yml"));
    for _ in 0..3 {
        assert_eq!(exchange_from("127.0.0.2", &server, &forged), 401);
    }
    // The guessing address waits, even with a good token; another client
    // is served.
    let good = es.sign(&issuer.claims(AUDIENCE, "acme/tool", "release.yml"));
    assert_eq!(exchange_from("127.0.0.2", &server, &good), 429);
    assert_eq!(exchange_from("127.0.0.3", &server, &good), 200);
    assert!(!server
        .audit_json(&["--action", "auth.throttled"])
        .is_empty());
}
