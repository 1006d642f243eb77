//! Every `MetaStore` method of `tables/` once, on SQLite and (when
//! reachable) PostgreSQL: each statement runs and each row type is read
//! back field by field, flags and domain words included. The end-to-end
//! tests of the `berth` crate cover the same methods through the server;
//! this one also covers what no request reaches (the audit log, a corrupt
//! domain word).

use berth_protocol::IndexEntry;

use crate::db::MetaStore;
use crate::domain::{AuditAction, AuditOutcome, RegistryKind, Role};
use crate::model::{Actor, AuditEntry, NewToken, NewVersion, PublishOutcome, StoredList, User};
use crate::{now_unix, test_db, BulkCrate, BulkVersion, NewDocsSet, StoreError};

pub(crate) fn actor_of(user: &User) -> Actor {
    actor(user)
}

fn actor(user: &User) -> Actor {
    Actor {
        user_id: user.id,
        login: user.login.clone(),
        is_admin: user.is_admin,
        origin: Default::default(),
    }
}

/// Publishes `name@vers` (no README) to registry `reg`, named `main`, as
/// `user`.
async fn publish_as(
    store: &MetaStore,
    reg: i64,
    user: &User,
    name: &str,
    vers: &str,
) -> Result<PublishOutcome, StoreError> {
    store
        .publish(&version(reg, name, vers, None), &actor(user), "main")
        .await
}

/// A version to publish (no README), with a checksum made of its digits.
pub(crate) fn version_of(registry_id: i64, name: &str, vers: &str) -> NewVersion {
    version(registry_id, name, vers, None)
}

fn version(registry_id: i64, name: &str, vers: &str, readme: Option<&str>) -> NewVersion {
    let parsed = semver::Version::parse(vers).unwrap();
    let cksum = format!("{:0>64}", vers.replace(['.', '+'], ""));
    let line = format!(
        r#"{{"name":"{name}","vers":"{vers}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
    );
    NewVersion {
        registry_id,
        name: name.to_string(),
        canon_name: berth_protocol::canonical_name(name),
        vers: vers.to_string(),
        canon_vers: berth_protocol::canonical_version(&parsed),
        index_line: line,
        cksum,
        size: 100,
        metadata_json: "{}".into(),
        readme: readme.map(str::to_string),
        description: Some(format!("{name} at {vers}")),
        new_crate_only: false,
        trust_claims: None,
    }
}

/// A `read` token of a user, with no limits.
fn read_token<'a>(user_id: i64, name: Option<&'a str>, token_hash: &'a str) -> NewToken<'a> {
    NewToken {
        user_id,
        name,
        token_hash,
        scopes: "read",
        crate_patterns: StoredList::default(),
        registry: None,
        allowed_cidrs: StoredList::default(),
        expires_at: None,
        parent_id: None,
        trust_claims: None,
        audit: AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok),
    }
}

async fn every_statement(store: &MetaStore) {
    // registries
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    assert_eq!(
        store
            .ensure_registry("main", RegistryKind::Hosted)
            .await
            .unwrap(),
        reg
    );

    // users
    let alice = store
        .create_user("alice", Some("Alice"), Some("argon-hash"), false)
        .await
        .unwrap();
    let bob = store.create_user("bob", None, None, true).await.unwrap();
    assert!(matches!(
        store.create_user("alice", None, None, false).await,
        Err(StoreError::UserExists(_))
    ));
    assert_eq!(
        store.user_by_login("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_login("carol").await.unwrap(), None);
    assert_eq!(
        store.list_users().await.unwrap(),
        [alice.clone(), bob.clone()]
    );
    assert!(bob.is_admin && !alice.is_admin);
    assert_eq!(
        store.password_hash(alice.id).await.unwrap().as_deref(),
        Some("argon-hash")
    );
    assert_eq!(store.password_hash(bob.id).await.unwrap(), None);

    // tokens
    let tid = store
        .create_token(NewToken {
            user_id: alice.id,
            name: Some("ci"),
            token_hash: "h1",
            scopes: "publish-new,yank",
            crate_patterns: StoredList(vec!["acme_*".into()]),
            registry: Some("main"),
            allowed_cidrs: StoredList(vec!["10.0.0.0/8".parse().unwrap()]),
            expires_at: Some(4_000_000_000),
            parent_id: None,
            trust_claims: None,
            audit: AuditEntry::new(AuditAction::TokenCreate, AuditOutcome::Ok),
        })
        .await
        .unwrap();
    // One active token per name and user; unnamed tokens are named by id.
    let dup = store
        .create_token(read_token(alice.id, Some("ci"), "h-dup"))
        .await;
    assert!(matches!(dup, Err(StoreError::TokenNameExists(n)) if n == "ci"));
    let (hash, rec) = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(
        (hash.as_str(), rec.id, rec.name.as_str()),
        ("h1", tid, "ci")
    );
    assert_eq!(rec.scopes, "publish-new,yank");
    assert_eq!(
        (
            rec.crate_patterns.to_string().as_str(),
            rec.registry.as_deref(),
            rec.allowed_cidrs.to_string().as_str()
        ),
        ("acme_*", Some("main"), "10.0.0.0/8")
    );
    assert_eq!(
        (rec.expires_at, rec.last_used_at, rec.revoked),
        (Some(4_000_000_000), None, false)
    );
    assert_eq!(rec.user, alice);
    store.touch_token(tid).await.unwrap();
    let (_, rec) = store.token_by_hash("h1").await.unwrap().unwrap();
    assert!(rec.last_used_at.is_some());
    assert!(store.token_by_hash("h2").await.unwrap().is_none());
    let revoke = || AuditEntry::new(AuditAction::TokenRevoke, AuditOutcome::Ok);
    assert!(store.revoke_token(alice.id, tid, revoke()).await.unwrap());
    assert!(!store.revoke_token(alice.id, tid, revoke()).await.unwrap());
    let tokens = store.list_tokens(alice.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].id, tokens[0].name.as_str()), (tid, "ci"));
    assert!(tokens[0].revoked && tokens[0].created_at > 0);
    assert!(store.token_by_hash("h1").await.unwrap().unwrap().1.revoked);
    // A revoked token's name is free again; an unnamed token is `token-ID`.
    for (name, hash) in [(Some("ci"), "h3"), (None, "h4")] {
        let id = store
            .create_token(read_token(alice.id, name, hash))
            .await
            .unwrap();
        let (_, rec) = store.token_by_hash(hash).await.unwrap().unwrap();
        assert_eq!(rec.name, name.map_or(format!("token-{id}"), str::to_string));
    }

    // roles
    store
        .set_role(reg, "main", "alice", Some(Role::Publish))
        .await
        .unwrap();
    store
        .set_role(reg, "main", "alice", Some(Role::Admin))
        .await
        .unwrap();
    assert_eq!(
        store.user_roles(alice.id).await.unwrap(),
        [(reg, Role::Admin)]
    );
    assert_eq!(
        store.registry_members(reg).await.unwrap(),
        [("alice".to_string(), Role::Admin)]
    );
    store.set_role(reg, "main", "alice", None).await.unwrap();
    assert!(store.user_roles(alice.id).await.unwrap().is_empty());
    assert!(matches!(
        store.set_role(reg, "main", "carol", Some(Role::Read)).await,
        Err(StoreError::UserNotFound(_))
    ));

    // publish
    let v1 = version(reg, "Foo-Bar", "1.0.0", Some("# Foo"));
    let first = store.publish(&v1, &actor(&alice), "main").await.unwrap();
    assert!(first.new_crate);
    assert_eq!(first.revision, 1);
    let v11 = version(reg, "Foo-Bar", "1.1.0", None);
    let second = store.publish(&v11, &actor(&alice), "main").await.unwrap();
    assert_eq!(
        (second.crate_id, second.new_crate, second.revision),
        (first.crate_id, false, 2)
    );
    assert!(matches!(
        publish_as(store, reg, &alice, "Foo-Bar", "1.0.0+b").await,
        Err(StoreError::VersionExists { .. })
    ));
    assert!(matches!(
        publish_as(store, reg, &alice, "foo_bar", "2.0.0").await,
        Err(StoreError::NameMismatch { existing }) if existing == "Foo-Bar"
    ));
    let carol = store.create_user("carol", None, None, false).await.unwrap();
    assert!(matches!(
        publish_as(store, reg, &carol, "Foo-Bar", "3.0.0").await,
        Err(StoreError::NotOwner(_))
    ));

    // crates and the index
    let krate = store.find_crate(reg, "foo_bar").await.unwrap().unwrap();
    assert_eq!((krate.id, krate.name.as_str()), (first.crate_id, "Foo-Bar"));
    assert_eq!(krate.max_version.as_deref(), Some("1.1.0"));
    assert_eq!(krate.description.as_deref(), Some("Foo-Bar at 1.1.0"));
    assert_eq!((krate.revision, krate.downloads), (2, 0));
    // Every change moves updated_at forward, even within one second.
    assert!(krate.updated_at > krate.created_at);
    assert!(store.find_crate(reg, "nope").await.unwrap().is_none());
    assert!(store.crate_exists(reg, "foo_bar").await.unwrap());
    let state = store.index_state(reg, "foo_bar").await.unwrap().unwrap();
    assert_eq!(
        (state.crate_id, state.revision, state.updated_at),
        (krate.id, 2, krate.updated_at)
    );
    let (file_state, lines) = store.index_file(reg, "foo_bar").await.unwrap().unwrap();
    assert_eq!(file_state, state);
    assert_eq!(lines, [v1.index_line.clone(), v11.index_line.clone()]);
    assert!(store.index_file(reg, "nope").await.unwrap().is_none());
    assert_eq!(
        store.index_file_bytes(krate.id).await.unwrap(),
        (v1.index_line.len() + v11.index_line.len() + 2) as u64
    );

    // versions
    assert_eq!(
        store.existing_version(krate.id, "1.0.0").await.unwrap(),
        Some("1.0.0".into())
    );
    assert_eq!(
        store.existing_version(krate.id, "9.0.0").await.unwrap(),
        None
    );
    let rows = store.crate_versions(krate.id).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].vers.as_str(), rows[0].has_readme, rows[0].yanked),
        ("1.0.0", true, false)
    );
    assert_eq!(
        (rows[1].vers.as_str(), rows[1].has_readme),
        ("1.1.0", false)
    );
    assert_eq!(rows[0].published_by.as_deref(), Some("alice"));
    assert_eq!(
        (rows[0].cksum.as_str(), rows[0].size),
        (v1.cksum.as_str(), 100)
    );
    assert_eq!(
        store.version_readme(krate.id, "1.0.0").await.unwrap(),
        Some("# Foo".into())
    );
    assert_eq!(store.version_readme(krate.id, "1.1.0").await.unwrap(), None);

    // yank
    let yank = |vers: &'static str, yanked: bool, who: &User| {
        let who = actor(who);
        async move {
            store
                .set_yanked(reg, "main", "foo_bar", vers, yanked, &who)
                .await
        }
    };
    assert_eq!(yank("1.1.0", true, &alice).await.unwrap(), Some(3));
    assert_eq!(yank("1.1.0", true, &alice).await.unwrap(), None);
    assert!(matches!(
        yank("1.1.0", false, &carol).await,
        Err(StoreError::NotOwner(_))
    ));
    assert!(matches!(
        yank("9.9.9", true, &alice).await,
        Err(StoreError::VersionNotFound { .. })
    ));
    let krate = store.find_crate(reg, "foo_bar").await.unwrap().unwrap();
    assert_eq!(krate.max_version.as_deref(), Some("1.0.0"));
    assert_eq!(krate.description.as_deref(), Some("Foo-Bar at 1.1.0"));
    assert!(store.crate_versions(krate.id).await.unwrap()[1].yanked);
    let (_, lines) = store.index_file(reg, "foo_bar").await.unwrap().unwrap();
    assert!(IndexEntry::from_line(&lines[1]).unwrap().yanked);
    assert_eq!(yank("1.1.0", false, &bob).await.unwrap(), Some(4));

    // owners
    let owners = |who: &User, logins: &[&str], add: bool| {
        let who = actor(who);
        let logins: Vec<String> = logins.iter().map(|l| l.to_string()).collect();
        async move {
            store
                .change_owners("main", krate.id, "Foo-Bar", &logins, add, &who)
                .await
        }
    };
    owners(&alice, &["carol"], true).await.unwrap();
    assert_eq!(
        store.list_owners(krate.id).await.unwrap(),
        [alice.clone(), carol.clone()]
    );
    assert!(matches!(
        owners(&alice, &["alice", "carol"], false).await,
        Err(StoreError::LastOwner)
    ));
    assert!(matches!(
        owners(&alice, &["dave"], true).await,
        Err(StoreError::UserNotFound(_))
    ));
    owners(&bob, &["alice"], false).await.unwrap();
    assert_eq!(store.list_owners(krate.id).await.unwrap(), [carol]);
    assert!(matches!(
        owners(&alice, &["alice"], true).await,
        Err(StoreError::NotOwner(_))
    ));

    // downloads
    let info = store
        .download_info(reg, "foo_bar", "1.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (info.crate_id, info.cksum.as_str(), info.size),
        (krate.id, v1.cksum.as_str(), 100)
    );
    assert!(store
        .download_info(reg, "foo_bar", "7.0.0")
        .await
        .unwrap()
        .is_none());
    store
        .add_downloads(
            &[
                (krate.id, info.version_id, 3),
                (krate.id, info.version_id, 2),
            ],
            20_000,
        )
        .await
        .unwrap();
    assert_eq!(store.version_downloads(info.version_id).await.unwrap(), 5);
    assert_eq!(
        store
            .find_crate(reg, "foo_bar")
            .await
            .unwrap()
            .unwrap()
            .downloads,
        5
    );

    // search
    for query in ["foo", "Foo-Bar", "fo", "bar at"] {
        let (hits, total) = store.search(reg, query, 10, 0).await.unwrap();
        assert_eq!(total, 1, "{query}");
        assert_eq!(hits[0].name, "Foo-Bar");
        assert_eq!(hits[0].max_version.as_deref(), Some("1.1.0"));
        assert_eq!(hits[0].description.as_deref(), Some("Foo-Bar at 1.1.0"));
        assert_eq!(hits[0].downloads, 5);
    }
    let (hits, total) = store.search(reg, "foo", 10, 10).await.unwrap();
    assert_eq!((hits.len(), total), (0, 1));
    assert_eq!(store.search(reg, "zzz", 10, 0).await.unwrap().1, 0);

    // blob references
    assert!(store.blob_referenced(&v1.cksum).await.unwrap());
    assert!(!store.blob_referenced(&"f".repeat(64)).await.unwrap());
    let all = store.version_blobs().await.unwrap();
    assert!(all.contains(&v1.cksum) && all.contains(&v11.cksum) && all.len() == 2);
    assert_eq!(store.referenced_blobs(reg).await.unwrap(), all);

    // audit (a bulk load writes its own row)
    let bulk = BulkCrate {
        name: "bulky".into(),
        description: None,
        versions: vec![BulkVersion {
            vers: "0.1.0".into(),
            index_line: "{}".into(),
            cksum: "ab".repeat(32),
            size: 1,
            yanked: false,
            created_at: 1,
            downloads: 0,
        }],
    };
    assert_eq!(store.bulk_load(reg, bob.id, &[bulk]).await.unwrap(), 1);
    let mut denied = crate::AuditEntry::new(AuditAction::Yank, AuditOutcome::Denied);
    denied.actor = Some("carol".into());
    denied.crate_name = Some("Foo-Bar".into());
    store.append_audit(&denied).await.unwrap();
    let audit = store.recent_audit(1000).await.unwrap();
    assert!(audit.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(audit[0].entry.action, AuditAction::Yank);
    assert_eq!(audit[0].entry.outcome, AuditOutcome::Denied);
    assert_eq!(audit[0].entry.crate_name.as_deref(), Some("Foo-Bar"));
    assert_eq!(audit[1].entry.action, AuditAction::BulkLoad);
    let publish = audit
        .iter()
        .find(|r| r.entry.action == AuditAction::Publish)
        .unwrap();
    assert_eq!(publish.entry.actor.as_deref(), Some("alice"));
    assert_eq!(publish.entry.registry.as_deref(), Some("main"));
    assert_eq!(publish.entry.version.as_deref(), Some("1.1.0"));
    assert!(publish.at > 0);
    let actions: Vec<AuditAction> = audit.iter().rev().map(|r| r.entry.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::UserCreate,
            AuditAction::UserCreate,
            AuditAction::TokenCreate,
            AuditAction::TokenRevoke,
            AuditAction::TokenCreate,
            AuditAction::TokenCreate,
            AuditAction::RoleGrant,
            AuditAction::RoleGrant,
            AuditAction::RoleRevoke,
            AuditAction::Publish,
            AuditAction::Publish,
            AuditAction::UserCreate,
            AuditAction::Yank,
            AuditAction::Unyank,
            AuditAction::OwnerAdd,
            AuditAction::OwnerRemove,
            AuditAction::BulkLoad,
            AuditAction::Yank,
        ]
    );

    // a stored word this build does not know is a corrupt row
    store
        .set_role(reg, "main", "bob", Some(Role::Read))
        .await
        .unwrap();
    sqlx::query("UPDATE registry_roles SET role = 'writer'")
        .execute(&store.pool)
        .await
        .unwrap();
    match store.user_roles(bob.id).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("unknown role `writer`"), "{m}"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
    // so is a token limit that does not read as its type
    sqlx::query("UPDATE tokens SET allowed_cidrs = '10.0.0.0/33' WHERE token_hash = 'h3'")
        .execute(&store.pool)
        .await
        .unwrap();
    match store.token_by_hash("h3").await {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.contains("stored token limit `10.0.0.0/33`"), "{m}")
        }
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

test_db::on_both_backends!(
    every_statement_on_sqlite,
    every_statement_on_postgres,
    every_statement
);

/// The web UI's statements (`sessions.rs`, `listing.rs`, password change).
async fn web_statements(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let alice = store.create_user("alice", None, None, false).await.unwrap();
    // sessions: created, found with their user, expired, deleted, and
    // ended by a password change
    let later = crate::now_unix() + 3600;
    store
        .create_session("h1", alice.id, "c1", crate::now_unix(), later)
        .await
        .unwrap();
    store
        .create_session("h2", alice.id, "c2", crate::now_unix(), later)
        .await
        .unwrap();
    store
        .create_session(
            "old",
            alice.id,
            "c3",
            crate::now_unix() - 10,
            crate::now_unix() - 1,
        )
        .await
        .unwrap();
    let s = store
        .session_by_hash("h1", crate::now_unix())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.csrf.as_str(), s.expires_at, &s.user),
        ("c1", later, &alice)
    );
    assert!(store
        .session_by_hash("old", crate::now_unix())
        .await
        .unwrap()
        .is_none());
    store.delete_session("h1").await.unwrap();
    assert!(store
        .session_by_hash("h1", crate::now_unix())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .session_by_hash("h2", crate::now_unix())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .set_password_hash("alice", Some("$hash"))
        .await
        .unwrap());
    assert_eq!(
        store.password_hash(alice.id).await.unwrap().as_deref(),
        Some("$hash")
    );
    assert!(store
        .session_by_hash("h2", crate::now_unix())
        .await
        .unwrap()
        .is_none());
    assert!(!store.set_password_hash("nobody", None).await.unwrap());
    // listings
    publish_as(store, reg, &alice, "aaa", "1.0.0")
        .await
        .unwrap();
    publish_as(store, reg, &alice, "bbb", "1.0.0")
        .await
        .unwrap();
    store.add_downloads(&[], 20_000).await.unwrap();
    let names =
        |rows: Vec<crate::CrateSummary>| rows.into_iter().map(|c| c.name).collect::<Vec<_>>();
    let recent = names(store.recent_crates(reg, 10).await.unwrap());
    assert_eq!(recent.len(), 2);
    assert_eq!(names(store.top_crates(reg, 1).await.unwrap()).len(), 1);
    let (page, total) = store.crates_by_name(reg, 1, 1).await.unwrap();
    assert_eq!((names(page), total), (vec!["bbb".to_string()], 2));
    let krate = store.find_crate(reg, "aaa").await.unwrap().unwrap();
    let v = store
        .version_page(krate.id, "1.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.vers.as_str(), v.metadata.as_str(), v.readme),
        ("1.0.0", "{}", None)
    );
    assert!(store
        .version_page(krate.id, "9.0.0")
        .await
        .unwrap()
        .is_none());
    let meta = store
        .newest_metadata(reg, &["aaa".to_string(), "zzz".to_string()])
        .await
        .unwrap();
    assert_eq!(meta, vec![("aaa".to_string(), "{}".to_string())]);
    assert!(store.newest_metadata(reg, &[]).await.unwrap().is_empty());
    // A proxy's cache as the UI lists it: the upstream's config.json and
    // "not found" answers are not crates.
    let row = |body: Option<&str>, at: i64| crate::ProxyIndexRow {
        body: body.map(str::to_string),
        etag: None,
        last_modified: None,
        fetched_at: at,
        changed_at: at,
    };
    store
        .proxy_index_put(reg, "config.json", &row(Some("{}"), 5))
        .await
        .unwrap();
    store
        .proxy_index_put(reg, "left", &row(Some("{\"name\":\"left\"}"), 7))
        .await
        .unwrap();
    store
        .proxy_index_put(reg, "right", &row(Some("{\"name\":\"right\"}"), 9))
        .await
        .unwrap();
    store
        .proxy_index_put(reg, "missing", &row(None, 9))
        .await
        .unwrap();
    let (rows, total) = store.proxy_listing(reg, false, 10, 0).await.unwrap();
    let listed: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!((listed, total), (vec!["left", "right"], 2));
    let (rows, _) = store.proxy_listing(reg, true, 1, 0).await.unwrap();
    assert_eq!(rows[0].0, "right");
    store
        .proxy_crate_put(reg, "cache", "left", "1.0.0", &"ab".repeat(32), 12, 7)
        .await
        .unwrap();
    let cached = store.proxy_cached_versions(reg, "left").await.unwrap();
    assert_eq!(cached.len(), 1);
    assert_eq!((cached[0].0.as_str(), cached[0].1.size), ("1.0.0", 12));
}

test_db::on_both_backends!(
    web_statements_on_sqlite,
    web_statements_on_postgres,
    web_statements
);

/// Publishes `name@vers` whose index line names `deps` (JSON objects).
async fn publish_with_deps(
    store: &MetaStore,
    reg: i64,
    user: &User,
    name: &str,
    vers: &str,
    deps: &[&str],
) -> PublishOutcome {
    let mut v = version(reg, name, vers, None);
    v.index_line = v
        .index_line
        .replace(r#""deps":[]"#, &format!(r#""deps":[{}]"#, deps.join(",")));
    store.publish(&v, &actor(user), "main").await.unwrap()
}

fn dep(name: &str, kind: &str, extra: &str) -> String {
    format!(
        r#"{{"name":"{name}","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"{kind}"{extra}}}"#
    )
}

/// Reverse dependencies (`dependencies.rs`, the migration's backfill) and
/// downloads per day.
async fn dependents_and_daily_downloads(store: &MetaStore) {
    let (reg, other) = test_db::main_and_other(store).await;
    let alice = store.create_user("alice", None, None, false).await.unwrap();
    let base = publish_with_deps(store, reg, &alice, "base-lib", "1.0.0", &[]).await;
    // A normal and a dev dependency, one renamed: one dependent.
    let normal = dep("base-lib", "normal", "");
    let renamed = dep("b", "dev", r#","package":"Base_Lib""#);
    publish_with_deps(store, reg, &alice, "app", "1.0.0", &[&normal, &renamed]).await;
    // Depends on another registry's `base-lib`: not a dependent.
    let elsewhere = dep(
        "base-lib",
        "normal",
        r#","registry":"sparse+https://elsewhere.test/""#,
    );
    publish_with_deps(store, reg, &alice, "remote", "1.0.0", &[&elsewhere]).await;
    // Its newest version dropped the dependency: not a dependent.
    publish_with_deps(store, reg, &alice, "former", "1.0.0", &[&normal]).await;
    publish_with_deps(store, reg, &alice, "former", "2.0.0", &[]).await;
    // Its only version is yanked: not a dependent.
    publish_with_deps(store, reg, &alice, "gone", "1.0.0", &[&normal]).await;
    store
        .set_yanked(reg, "main", "gone", "1.0.0", true, &actor(&alice))
        .await
        .unwrap();
    // Another registry's crate: not a dependent of this registry's crate.
    publish_with_deps(store, other, &alice, "stranger", "1.0.0", &[&normal]).await;
    // A bulk-loaded dependent.
    let line = format!(
        r#"{{"name":"bulky","vers":"0.1.0","deps":[{normal}],"cksum":"{}","features":{{}},"yanked":false}}"#,
        "cd".repeat(32)
    );
    let bulk = BulkCrate {
        name: "bulky".into(),
        description: None,
        versions: vec![BulkVersion {
            vers: "0.1.0".into(),
            index_line: line,
            cksum: "cd".repeat(32),
            size: 1,
            yanked: false,
            created_at: 1,
            downloads: 7,
        }],
    };
    assert_eq!(store.bulk_load(reg, alice.id, &[bulk]).await.unwrap(), 1);

    let (rows, total) = store.dependents(reg, "base_lib", 10).await.unwrap();
    let names: Vec<_> = rows.iter().map(|c| c.name.as_str()).collect();
    assert_eq!((names, total), (vec!["bulky", "app"], 2));
    let (rows, total) = store.dependents(reg, "base_lib", 1).await.unwrap();
    assert_eq!((rows.len(), total), (1, 2));
    assert_eq!(store.dependents(reg, "app", 10).await.unwrap().1, 0);
    assert_eq!(store.dependents(other, "base_lib", 10).await.unwrap().1, 1);
    assert!(store.fsck_dangling().await.unwrap().is_empty());

    // The migration's backfill rebuilds the same rows from the index lines.
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM dependencies")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    };
    let before = count().await;
    assert_eq!(before, 7);
    sqlx::query("DELETE FROM dependencies")
        .execute(&store.pool)
        .await
        .unwrap();
    let migration = match store.backend() {
        crate::db::Backend::Sqlite => {
            include_str!("../../migrations/sqlite/20261125000010_dependencies.sql")
        }
        crate::db::Backend::Postgres => {
            include_str!("../../migrations/postgres/20261125000010_dependencies.sql")
        }
    };
    let backfill = &migration[migration.find("INSERT INTO dependencies").unwrap()..];
    sqlx::query(backfill).execute(&store.pool).await.unwrap();
    assert_eq!(count().await, before);
    let (rows, total) = store.dependents(reg, "base_lib", 10).await.unwrap();
    let names: Vec<_> = rows.iter().map(|c| c.name.as_str()).collect();
    assert_eq!((names, total), (vec!["bulky", "app"], 2));

    // Downloads per day: added up per day, summed over versions.
    let krate = store.find_crate(reg, "base_lib").await.unwrap().unwrap();
    let v2 = publish_with_deps(store, reg, &alice, "base-lib", "1.1.0", &[]).await;
    store
        .add_downloads(&[(krate.id, base.version_id, 2)], 20_000)
        .await
        .unwrap();
    store
        .add_downloads(
            &[(krate.id, base.version_id, 1), (krate.id, v2.version_id, 4)],
            20_000,
        )
        .await
        .unwrap();
    store
        .add_downloads(&[(krate.id, v2.version_id, 3)], 20_002)
        .await
        .unwrap();
    assert_eq!(
        store
            .daily_downloads(krate.id, 19_000, 20_002)
            .await
            .unwrap(),
        vec![(20_000, 7), (20_002, 3)]
    );
    assert_eq!(
        store
            .daily_downloads(krate.id, 20_001, 20_100)
            .await
            .unwrap(),
        vec![(20_002, 3)]
    );
    assert_eq!(store.version_downloads(base.version_id).await.unwrap(), 3);
}

test_db::on_both_backends!(
    dependents_and_daily_downloads_on_sqlite,
    dependents_and_daily_downloads_on_postgres,
    dependents_and_daily_downloads
);

/// The advisory set in force, exceptions, approvals and the revision that
/// tells nodes to reload them; the licenses of a hosted crate's versions.
async fn supply_chain_rows(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    assert!(store.advisory_set_info().await.unwrap().is_none());
    let entry = AuditEntry::done(AuditAction::AdvisoriesImport, "digest=a".into());
    let set = |digest: &'static str, body: &'static str| crate::model::NewAdvisorySet {
        digest,
        body,
        source: "/srv/advisory-db",
        advisories: 3,
        crates: 2,
        imported_at: 1_000,
    };
    let first = store
        .replace_advisory_set(&set("a", "{\"a\":1}"), &entry)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.digest, "a");
    assert!(
        store
            .replace_advisory_set(&set("a", "{\"a\":1}"), &entry)
            .await
            .unwrap()
            .is_none(),
        "the same digest again changes nothing"
    );
    store
        .replace_advisory_set(&set("b", "{\"b\":2}"), &entry)
        .await
        .unwrap()
        .unwrap();
    let (info, body) = store.advisory_set().await.unwrap().unwrap();
    assert_eq!((info.digest.as_str(), body.as_str()), ("b", "{\"b\":2}"));
    assert_eq!(
        (info.source.as_str(), info.advisories, info.crates),
        ("/srv/advisory-db", 3, 2)
    );
    assert_eq!(store.count_rows("advisory_sets").await.unwrap(), 1);

    let revision = |revs: Vec<(i64, i64)>| revs.iter().find(|(id, _)| *id == reg).unwrap().1;
    assert_eq!(revision(store.policy_revisions().await.unwrap()), 0);
    let allow = AuditEntry::done(AuditAction::PolicyAllow, "reason".into());
    let exception = |name, reason, expires_at, created_at| crate::model::NewPolicyException {
        registry_id: reg,
        name,
        canon_name: "foo_bar",
        vers: "1.0.0",
        reason,
        expires_at,
        created_by: "cli:ops",
        created_at,
    };
    store
        .add_policy_exception(&exception("Foo-Bar", "old", None, 5), &allow)
        .await
        .unwrap();
    store
        .add_policy_exception(&exception("foo_bar", "new", Some(99), 6), &allow)
        .await
        .unwrap();
    let approve = AuditEntry::done(AuditAction::PolicyApprove, String::new());
    let approval = |name, req, created_at| crate::model::NewPolicyApproval {
        registry_id: reg,
        name,
        canon_name: name,
        req,
        created_by: "cli:ops",
        created_at,
    };
    for new in [
        approval("serde", Some("^1"), 7),
        approval("serde", Some("^1"), 8),
        approval("log", None, 9),
    ] {
        store.add_policy_approval(&new, &approve).await.unwrap();
    }
    let (rev, lists) = store.policy_lists(reg).await.unwrap();
    assert_eq!(rev, 5);
    assert_eq!(lists.exceptions.len(), 1, "one exception per version");
    let e = &lists.exceptions[0];
    assert_eq!(
        (
            e.name.as_str(),
            e.vers.as_str(),
            e.reason.as_str(),
            e.expires_at
        ),
        ("foo_bar", "1.0.0", "new", Some(99))
    );
    assert_eq!((e.created_by.as_str(), e.created_at), ("cli:ops", 6));
    let reqs: Vec<_> = lists
        .approvals
        .iter()
        .map(|a| (a.name.as_str(), a.req.as_deref()))
        .collect();
    assert_eq!(reqs, [("serde", Some("^1")), ("log", None)]);

    let gone = AuditEntry::done(AuditAction::PolicyDisallow, String::new());
    assert_eq!(
        store
            .remove_policy_entries(reg, "foo_bar", Some("2.0.0"), &gone)
            .await
            .unwrap(),
        0
    );
    assert_eq!(revision(store.policy_revisions().await.unwrap()), 5);
    assert_eq!(
        store
            .remove_policy_entries(reg, "foo_bar", Some("1.0.0"), &gone)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .remove_policy_entries(reg, "serde", None, &gone)
            .await
            .unwrap(),
        1
    );
    let (rev, lists) = store.policy_lists(reg).await.unwrap();
    assert_eq!(
        (rev, lists.exceptions.len(), lists.approvals.len()),
        (7, 0, 1)
    );

    // Licenses come from the publish metadata.
    let user = store.create_user("lic", None, None, false).await.unwrap();
    let mut v = version(reg, "licensed", "1.0.0", None);
    v.metadata_json = r#"{"license":"MIT OR Apache-2.0"}"#.into();
    store.publish(&v, &actor(&user), "main").await.unwrap();
    publish_as(store, reg, &user, "licensed", "1.1.0")
        .await
        .unwrap();
    assert_eq!(
        store.version_licenses(reg, "licensed").await.unwrap(),
        [
            ("1.0.0".to_string(), Some("MIT OR Apache-2.0".to_string())),
            ("1.1.0".to_string(), None)
        ]
    );
}

test_db::on_both_backends!(
    supply_chain_rows_on_sqlite,
    supply_chain_rows_on_postgres,
    supply_chain_rows
);

/// Webhook deliveries: a publish queues one per receiver; the outcomes of
/// a batch of sends are written in one statement with the next claim.
async fn webhook_outcomes(store: &MetaStore) {
    use crate::tables::webhooks::Attempt;
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let alice = store.create_user("alice", None, None, true).await.unwrap();
    let audit = AuditEntry::new(AuditAction::WebhookAdd, AuditOutcome::Ok);
    for n in 0..3 {
        let url = format!("http://127.0.0.1:9/{n}");
        store
            .add_webhook(&url, "publish", None, None, &audit)
            .await
            .unwrap();
    }
    publish_as(store, reg, &alice, "hooked", "1.0.0")
        .await
        .unwrap();
    // Queued at the system's time: due from then.
    let now = crate::now_unix() + 1;
    let claimed = store
        .settle_and_claim(&[], now, now + 30, 16)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3, "one delivery per receiver: {claimed:?}");
    let ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
    let attempts = [
        Attempt {
            id: ids[0],
            state: "done",
            next_at: now,
            status: Some(204),
            error: None,
            at: now + 1,
        },
        Attempt {
            id: ids[1],
            state: "pending",
            next_at: now + 8,
            status: Some(503),
            error: Some("answered 503 Service Unavailable".into()),
            at: now + 2,
        },
        Attempt {
            id: ids[2],
            state: "dead",
            next_at: now + 16,
            status: None,
            error: Some("connection refused".into()),
            at: now + 3,
        },
    ];
    // Nothing else is due yet: the retry waits for its time.
    let again = store
        .settle_and_claim(&attempts, now + 4, now + 34, 16)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let mut rows = store.list_deliveries(false, 10).await.unwrap();
    rows.sort_by_key(|d| d.id);
    let seen: Vec<_> = rows
        .iter()
        .map(|d| {
            (
                d.state.as_str(),
                d.attempts,
                d.next_at,
                d.last_status,
                d.last_error.as_deref(),
                d.delivered_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("done", 1, now, Some(204), None, Some(now + 1)),
            (
                "pending",
                1,
                now + 8,
                Some(503),
                Some("answered 503 Service Unavailable"),
                None
            ),
            ("dead", 1, now + 16, None, Some("connection refused"), None),
        ]
    );
    // Due again: the retry is claimed, and only it.
    let retry = store
        .settle_and_claim(&[], now + 8, now + 38, 16)
        .await
        .unwrap();
    assert_eq!(retry.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]]);
}

test_db::on_both_backends!(
    webhook_outcomes_on_sqlite,
    webhook_outcomes_on_postgres,
    webhook_outcomes
);

/// The docs build queue is fair between publishers: one user's burst of
/// publishes is built in turns with another's single publish, whose
/// build comes second, not after the burst.
async fn docs_builds_take_turns_between_publishers(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let alice = store.create_user("alice", None, None, false).await.unwrap();
    let bob = store.create_user("bob", None, None, false).await.unwrap();
    for vers in ["1.0.0", "1.1.0", "1.2.0"] {
        publish_as(store, reg, &alice, "burst", vers).await.unwrap();
    }
    publish_as(store, reg, &bob, "single", "1.0.0")
        .await
        .unwrap();
    let now = now_unix();
    let mut order = Vec::new();
    for worker in ["w1", "w2", "w3", "w4"] {
        let job = store
            .claim_docs_build(worker, now, now + 100, 2)
            .await
            .unwrap()
            .expect("a queued build");
        order.push(format!("{}@{}", job.name, job.vers));
    }
    assert_eq!(
        order,
        ["burst@1.0.0", "single@1.0.0", "burst@1.1.0", "burst@1.2.0"]
    );
    assert!(store
        .claim_docs_build("w5", now, now + 100, 2)
        .await
        .unwrap()
        .is_none());
}

test_db::on_both_backends!(
    docs_builds_take_turns_on_sqlite,
    docs_builds_take_turns_on_postgres,
    docs_builds_take_turns_between_publishers
);

/// The docs build queue: a publish queues a build; a worker takes it
/// under a lease that no other worker takes it from until it runs out;
/// then another does (a second attempt), and the first's late result is
/// dropped; after the last attempt's lease runs out the build is given up
/// as failed; a rebuild queues it again from the start.
async fn docs_build_leases(store: &MetaStore) {
    let reg = store
        .ensure_registry("main", RegistryKind::Hosted)
        .await
        .unwrap();
    let alice = store.create_user("alice", None, None, true).await.unwrap();
    let published = publish_as(store, reg, &alice, "lease-me", "1.0.0")
        .await
        .unwrap();
    let vid = published.version_id;
    assert_eq!(
        store.docs_build(vid).await.unwrap().unwrap().state,
        "queued"
    );
    assert_eq!(store.docs_queue_length().await.unwrap(), 1);
    let now = now_unix();
    let a = store
        .claim_docs_build("node-a", now, now + 100, 2)
        .await
        .unwrap()
        .expect("a queued build");
    assert_eq!(
        (a.name.as_str(), a.vers.as_str(), a.attempts),
        ("lease-me", "1.0.0", 1)
    );
    // Held: nobody else takes it while the lease runs.
    assert!(store
        .claim_docs_build("node-b", now + 50, now + 150, 2)
        .await
        .unwrap()
        .is_none());
    // Node A went away; its lease ran out: B takes the build again.
    let b = store
        .claim_docs_build("node-b", now + 101, now + 201, 2)
        .await
        .unwrap()
        .expect("the build again");
    assert_eq!(b.attempts, 2);
    let set = NewDocsSet {
        set_id: "set-a".into(),
        root: "lease_me".into(),
        source: "build",
        files: 1,
        bytes: 1,
    };
    // A's late result is not written.
    assert!(store
        .finish_docs_build(vid, "node-a", "late", Some(&set), now + 120)
        .await
        .unwrap()
        .is_err());
    // B's lease runs out too: the last attempt is given up, as failed.
    assert!(store
        .claim_docs_build("node-c", now + 202, now + 302, 2)
        .await
        .unwrap()
        .is_none());
    let build = store.docs_build(vid).await.unwrap().unwrap();
    assert_eq!(build.state, "failed");
    assert!(build.log.unwrap().contains("given up after 2 attempts"));
    assert!(store
        .docs_sets(reg, &berth_protocol::canonical_name("lease-me"))
        .await
        .unwrap()
        .is_empty());
    // Queued again: taken from the start and finished.
    let audit = AuditEntry::new(AuditAction::DocsRebuild, AuditOutcome::Ok);
    store.queue_docs_rebuild(vid, &audit).await.unwrap();
    let c = store
        .claim_docs_build("node-c", now + 303, now + 403, 2)
        .await
        .unwrap()
        .expect("the rebuild");
    assert_eq!(c.attempts, 1);
    let set = NewDocsSet {
        set_id: "set-c".into(),
        ..set
    };
    assert_eq!(
        store
            .finish_docs_build(vid, "node-c", "built", Some(&set), now + 310)
            .await
            .unwrap(),
        Ok(None)
    );
    let build = store.docs_build(vid).await.unwrap().unwrap();
    assert_eq!(
        (build.state.as_str(), build.log.as_deref()),
        ("ok", Some("built"))
    );
    let sets = store
        .docs_sets(reg, &berth_protocol::canonical_name("lease-me"))
        .await
        .unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(
        (sets[0].set_id.as_str(), sets[0].source.as_str()),
        ("set-c", "build")
    );
    assert_eq!(store.docs_queue_length().await.unwrap(), 0);
    // Docs uploaded from CI while a build runs win over the build: its
    // set is handed back to be deleted.
    store.queue_docs_rebuild(vid, &audit).await.unwrap();
    store
        .claim_docs_build("node-d", now, now + 100, 2)
        .await
        .unwrap()
        .expect("the build");
    let uploaded = NewDocsSet {
        set_id: "set-upload".into(),
        source: "upload",
        ..set.clone()
    };
    let upload = AuditEntry::new(AuditAction::DocsUpload, AuditOutcome::Ok);
    store.put_docs_set(vid, &uploaded, &upload).await.unwrap();
    // The replaced set is retired, not forgotten: its files stay for the
    // grace period, and a row still names it.
    assert!(store.docs_set_known("set-c").await.unwrap());
    assert_eq!(
        store.retired_docs_sets(i64::MAX).await.unwrap(),
        vec!["set-c".to_string()]
    );
    assert!(store.retired_docs_sets(0).await.unwrap().is_empty());
    let built = NewDocsSet {
        set_id: "set-d".into(),
        ..set
    };
    assert_eq!(
        store
            .finish_docs_build(vid, "node-d", "built", Some(&built), now + 50)
            .await
            .unwrap(),
        Ok(Some("set-d".to_string()))
    );
    let sets = store
        .docs_sets(reg, &berth_protocol::canonical_name("lease-me"))
        .await
        .unwrap();
    assert_eq!(sets[0].set_id, "set-upload");
    // The budget drops a version's set: retired with the one before; a
    // second drop of the same set (another node) finds nothing.
    let held = store.registry_docs_sets(reg).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].name.as_str(), held[0].version_id),
        ("lease-me", vid)
    );
    let dropped = AuditEntry::new(AuditAction::DocsDrop, AuditOutcome::Ok);
    assert!(store
        .drop_docs_set(vid, "set-upload", &dropped)
        .await
        .unwrap());
    assert!(!store
        .drop_docs_set(vid, "set-upload", &dropped)
        .await
        .unwrap());
    assert!(store.registry_docs_sets(reg).await.unwrap().is_empty());
    let mut retired = store.retired_docs_sets(i64::MAX).await.unwrap();
    retired.sort();
    assert_eq!(retired, ["set-c", "set-upload"]);
    store.forget_retired_docs_set("set-c").await.unwrap();
    assert!(!store.docs_set_known("set-c").await.unwrap());
    assert!(store.docs_set_known("set-upload").await.unwrap());
    assert!(!store.docs_set_known("set-never").await.unwrap());
    // Before a forced restore every version's docs are set aside: the
    // served set retired, the queue emptied.
    store.put_docs_set(vid, &uploaded, &upload).await.unwrap();
    store.queue_docs_rebuild(vid, &audit).await.unwrap();
    assert_eq!(store.retire_all_docs(now).await.unwrap(), 1);
    assert!(store.registry_docs_sets(reg).await.unwrap().is_empty());
    assert!(store.docs_build(vid).await.unwrap().is_none());
    assert_eq!(store.docs_queue_length().await.unwrap(), 0);
    assert!(store.docs_set_known("set-upload").await.unwrap());
    assert_eq!(store.retire_all_docs(now).await.unwrap(), 0);
}

test_db::on_both_backends!(
    docs_build_leases_on_sqlite,
    docs_build_leases_on_postgres,
    docs_build_leases
);
