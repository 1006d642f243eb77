//! `berth serve`: the SQLite lock of the serving process, the listener, the
//! checks before the start (TLS files, stored registry settings), the
//! record of the configuration file in the data dir, the transparency
//! log's signing key (made on the first start), the start message
//! (how to point cargo at the server, with commands that work as printed),
//! and the graceful stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_core::{Berth, Config};

use crate::stores::{record_config, Setup};

pub async fn run(setup: Setup) -> Result<()> {
    let Setup {
        mut config,
        config_file,
        data_dir_given,
    } = setup;
    // Before anything is opened, bound or recorded: a certificate that does
    // not load stops the start here, naming its file.
    berth_server::check_tls(&config.tls).map_err(|e| anyhow::anyhow!("cannot serve HTTPS: {e}"))?;
    // A sign-in that cannot work stops the start, naming its variable.
    if let Some(name) = config.auth.missing_secrets().first() {
        bail!(
            "the environment variable `{name}` is not set: [auth] names it as holding a secret \
             (the OIDC client secret or the LDAP service account's password)"
        );
    }
    for r in &config.registries {
        if let Some(name) = r.settings.missing_secret() {
            bail!(
                "the environment variable `{name}` is not set: replica registry `{}` names it \
                 (primary_token_env) as holding a token that may read its primary",
                r.name
            );
        }
    }
    let _sqlite_lock = lock_sqlite(&config)?;
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // With `--listen 127.0.0.1:0` the port is chosen now; a public URL that
    // was derived from the listen address must name the real port.
    let scheme = if config.tls.files.is_some() {
        "https"
    } else {
        "http"
    };
    if config.public_url == format!("{scheme}://{listen}") {
        config.public_url = format!("{scheme}://{addr}");
    }
    let setup = Setup {
        config,
        config_file,
        data_dir_given,
    };
    let config_file = setup.config_file.clone();
    setup
        .with_berth(async |berth| {
            berth.check_stored_registries().await?;
            berth
                .audit_start()
                .await
                .map_err(|e| anyhow::anyhow!("recording the start in the audit log: {e}"))?;
            record_config(&berth.config.data_dir, config_file.as_deref())?;
            let (key, source, made) = berth.ensure_log_key()?;
            if made {
                tracing::info!(key = %key, file = %source, "made the transparency log's signing key");
                if !berth.config.database.url.starts_with("sqlite:") {
                    tracing::warn!(
                        file = %source,
                        "this node made its own transparency key; every node of one database \
                         must sign with the same key: copy this file to the others and set \
                         [transparency] key_file (or BERTH_TRANSPARENCY_KEY)"
                    );
                }
            }
            let berth_cli = cli_prefix(&berth.config, config_file.as_deref(), data_dir_given);
            let announce = {
                let berth = berth.clone();
                move || announce(&berth, scheme, addr, &berth_cli)
            };
            berth_server::serve(berth.clone(), listener, shutdown_signal(), announce).await?;
            Ok(())
        })
        .await
}

/// On SQLite, the serving process must be the only one changing the
/// database (its index cache relies on it): hold a lock file for as long as
/// it runs. Several nodes need PostgreSQL.
fn lock_sqlite(config: &Config) -> Result<Option<std::fs::File>> {
    let Some(db) = berth_core::sqlite_path(&config.database.url) else {
        return Ok(None);
    };
    let lock_path = db.with_extension("serve-lock");
    if let Some(parent) = lock_path.parent() {
        // 0700, as the store makes it: it holds the database.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        0o600,
    )
    .open(&lock_path)
    .with_context(|| format!("opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `berth serve` is already using the SQLite database {} (lock file {}); \
             run one server per SQLite database, or use PostgreSQL (database.url) for several nodes",
            db.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", lock_path.display())),
    }
}

/// `s` as one word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How the start message spells `berth` so that its commands work as
/// printed: with the configuration file and data dir the server was given.
fn cli_prefix(config: &Config, config_file: Option<&Path>, data_dir_given: bool) -> String {
    let mut line = "berth".to_string();
    if let Some(file) = config_file {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        line.push_str(&format!(
            " --config {}",
            shell_quote(&file.display().to_string())
        ));
    }
    if data_dir_given || config_file.is_none() {
        line.push_str(&format!(
            " --data-dir {}",
            shell_quote(&config.data_dir.display().to_string())
        ));
    }
    line
}

/// Says the server is serving (log line, the URL, how to point cargo at it
/// and the first commands), once it really is.
fn announce(berth: &Berth, scheme: &str, addr: SocketAddr, berth_cli: &str) {
    tracing::info!(
        %addr,
        public_url = %berth.config.public_url,
        database = %berth_core::redact_url(&berth.config.database.url),
        blobs = %berth.describe_blobs(),
        "berth is serving"
    );
    println!("Berth is listening on {scheme}://{addr}");
    println!("Point cargo at it with these lines in .cargo/config.toml:\n");
    for reg in berth.registries() {
        println!("{}", berth.cargo_config_snippet(reg));
    }
    let logged = berth.registries().find(|r| r.traits().holds_publishes);
    if let (Some(key), Some(reg)) = (berth.log_verifier(), logged) {
        println!(
            "Every version is logged in a transparency log signed by this key (also at \
             {url}/r/{name}/log/key); check a lockfile against it with:\n\n  \
             berth verify --index sparse+{url}/r/{name}/index/ --key {key} Cargo.lock\n",
            url = berth.config.public_url,
            name = reg.name
        );
    }
    if let Some(reg) = berth.registries().find(|r| r.traits().holds_publishes) {
        let name = &reg.name;
        println!(
            "To publish, make a user and a token (in another terminal; the token is printed once), \
             then log cargo in with it:\n\n  \
             {berth_cli} user add alice\n  \
             {berth_cli} token create --user alice\n  \
             cargo login --registry {name}\n  \
             cargo publish --registry {name}\n"
        );
        println!(
            "Browse it at {url}/ ; to sign in there (and make tokens on the account page), give \
             the user a password:\n\n  \
             {berth_cli} user passwd alice --password-stdin\n",
            url = berth.config.public_url
        );
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
