//! The `berth` command: serve the registry and administer it.
//!
//! This is the binary's edge: it parses the command line, loads the
//! configuration, sets up logging, and calls into the services. It holds no
//! registry logic of its own.

mod audit;
mod cli;
mod logging;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use berth_core::{Berth, Config, Overrides};
use clap::Parser;

use crate::cli::*;

/// The rows of `berth token list` as an aligned table.
fn token_table(tokens: &[berth_core::tokens::TokenView]) -> String {
    use berth_core::tokens::format_time;
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_string(), format_time);
    let list = |l: &[String]| {
        if l.is_empty() {
            "-".to_string()
        } else {
            l.join(",")
        }
    };
    let mut rows = vec![[
        "ID",
        "NAME",
        "SCOPES",
        "CRATES",
        "REGISTRY",
        "CIDRS",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATE",
    ]
    .map(str::to_string)];
    for t in tokens {
        rows.push([
            t.id.to_string(),
            t.name.clone(),
            list(&t.scopes),
            list(&t.crates),
            t.registry.clone().unwrap_or_else(|| "-".into()),
            list(&t.allowed_cidrs),
            format_time(t.created_at),
            time(t.expires_at),
            time(t.last_used_at),
            if t.revoked { "revoked" } else { "active" }.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn shutdown_signal() {
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

/// Where the command looked for the data, once it has opened it: named
/// under any error that follows ("no user `alice`" says where).
static LOOKED_IN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn open(config: Config) -> Result<Arc<Berth>> {
    let _ = LOOKED_IN.set(berth_core::redact_url(&config.database.url));
    Berth::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The file in the data dir where `berth serve` records the configuration
/// file it was started with.
const CONFIG_RECORD: &str = "config-path";

/// The configuration file `berth serve` recorded in the data dir, for a
/// command given neither `--config` nor `BERTH_CONFIG`.
fn recorded_config(data_dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let record = std::path::absolute(data_dir.join(CONFIG_RECORD))?;
    let text = match std::fs::read_to_string(&record) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", record.display())),
    };
    let file = PathBuf::from(text.trim_end_matches(['\n', '\r']));
    if !file.is_file() {
        bail!(
            "`berth serve` was last started with the configuration file {}, which no longer \
             exists (recorded in {}); give --config FILE",
            file.display(),
            record.display()
        );
    }
    eprintln!(
        "using the configuration file {} that `berth serve` was started with (recorded in {}; \
         --config FILE overrides it)",
        file.display(),
        record.display()
    );
    Ok(Some(file))
}

/// Records (or, when the server runs without one, forgets) the
/// configuration file `berth serve` was started with, owner-only.
fn record_config(data_dir: &std::path::Path, file: Option<&std::path::Path>) -> Result<()> {
    let record = data_dir.join(CONFIG_RECORD);
    let Some(file) = file else {
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", record.display()))
            }
            _ => return Ok(()),
        }
    };
    if !data_dir.is_dir() {
        // Stores elsewhere (PostgreSQL, S3): no data dir to record in.
        return Ok(());
    }
    let file = std::path::absolute(file)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&record)
        .with_context(|| format!("writing {}", record.display()))?;
    std::io::Write::write_all(&mut out, format!("{}\n", file.display()).as_bytes())
        .with_context(|| format!("writing {}", record.display()))?;
    Ok(())
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

/// Refuses to go on when the SQLite database a command reads is missing
/// (opening it would create an empty one).
fn require_data(config: &Config) -> Result<()> {
    let Some(db) = berth_store_sqlite_path(&config.database.url) else {
        return Ok(());
    };
    if db.exists() {
        return Ok(());
    }
    if db == config.data_dir.join("berth.db") {
        bail!(
            "no Berth data in {} (give --data-dir or BERTH_DATA_DIR, or --config FILE)",
            config.data_dir.display()
        );
    }
    bail!(
        "no Berth database at {} (database.url; give --config FILE)",
        db.display()
    );
}

/// On SQLite, the serving process must be the only one changing the
/// database (its index cache relies on it): hold a lock file for as long as
/// it runs. Several nodes need PostgreSQL.
fn lock_sqlite(config: &Config) -> Result<Option<std::fs::File>> {
    let Some(db) = berth_store_sqlite_path(&config.database.url) else {
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

fn berth_store_sqlite_path(url: &str) -> Option<PathBuf> {
    berth_core::sqlite_path(url)
}

/// How the start message spells `berth` so that its commands work as
/// printed: with the configuration file and data dir the server was given.
fn cli_prefix(
    config: &Config,
    config_file: Option<&std::path::Path>,
    data_dir_given: bool,
) -> String {
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

async fn serve(
    mut config: Config,
    config_file: Option<PathBuf>,
    data_dir_given: bool,
) -> Result<()> {
    // Before anything is opened, bound or recorded: a certificate that does
    // not load stops the start here, naming its file.
    berth_server::check_tls(&config.tls).map_err(|e| anyhow::anyhow!("cannot serve HTTPS: {e}"))?;
    let _sqlite_lock = lock_sqlite(&config)?;
    let listen = config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // With `--listen 127.0.0.1:0` the port is chosen now; a public URL that
    // was derived from the listen address must name the real port.
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    if config.public_url == format!("{scheme}://{listen}") {
        config.public_url = format!("{scheme}://{addr}");
    }
    let berth = open(config).await?;
    berth
        .check_stored_registries()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    berth
        .audit_start()
        .await
        .map_err(|e| anyhow::anyhow!("recording the start in the audit log: {e}"))?;
    record_config(&berth.config.data_dir, config_file.as_deref())?;
    let berth_cli = cli_prefix(&berth.config, config_file.as_deref(), data_dir_given);
    let announce = {
        let berth = berth.clone();
        move || announce(&berth, scheme, addr, &berth_cli)
    };
    berth_server::serve(berth.clone(), listener, shutdown_signal(), announce).await?;
    berth.close().await;
    Ok(())
}

/// Says the server is serving (log line, the URL, how to point cargo at it
/// and the first commands), once it really is.
fn announce(berth: &Berth, scheme: &str, addr: std::net::SocketAddr, berth_cli: &str) {
    tracing::info!(
        %addr,
        public_url = %berth.config.public_url,
        database = %berth_store_redacted(&berth.config.database.url),
        blobs = %berth.describe_blobs(),
        "berth is serving"
    );
    println!("Berth is listening on {scheme}://{addr}");
    println!("Point cargo at it with these lines in .cargo/config.toml:\n");
    for reg in berth.registries() {
        println!("{}", berth.cargo_config_snippet(reg));
    }
    if let Some(reg) = berth
        .registries()
        .find(|r| r.kind == berth_core::RegistryKind::Hosted)
    {
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

fn berth_store_redacted(url: &str) -> String {
    berth_core::redact_url(url)
}

#[tokio::main]
async fn main() -> Result<()> {
    let result = run(Cli::parse()).await;
    match (result, LOOKED_IN.get()) {
        (Err(e), Some(place)) => Err(anyhow::anyhow!(
            "{e:#}\n(berth looked in the database {place})"
        )),
        (result, _) => result,
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut overrides = Overrides {
        data_dir: cli.global.data_dir.clone(),
        ..Default::default()
    };
    if let Command::Serve { listen, public_url } = &cli.command {
        overrides.listen = listen.clone();
        overrides.public_url = public_url.clone();
    }
    match &cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "berth", &mut script);
            return print_bytes(&script);
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .context("rendering the manual page")?;
            return print_bytes(&page);
        }
        _ => {}
    }
    if let Command::Config {
        action: Some(ConfigCommand::Check { file }),
    } = &cli.command
    {
        let config = Config::load(Some(file), &overrides)?;
        config.check_storage()?;
        berth_server::check_tls(&config.tls).map_err(anyhow::Error::msg)?;
        print!("{}", config.masked_toml()?);
        eprintln!("{}: the configuration is valid", file.display());
        return Ok(());
    }
    let is_serve = matches!(cli.command, Command::Serve { .. });
    let config_file = match &cli.global.config {
        Some(file) => Some(file.clone()),
        // `serve` runs on what it is given; the other commands find the
        // file the server was started with.
        None if !is_serve => {
            let data_dir =
                (overrides.data_dir.clone()).unwrap_or_else(|| Config::default().data_dir);
            recorded_config(&data_dir)?
        }
        None => None,
    };
    let config = Config::load(config_file.as_deref(), &overrides)?;
    if cli.command.needs_existing_data() {
        require_data(&config)?;
    }
    logging::init(&config);
    if !matches!(cli.command, Command::Serve { .. }) {
        // Changes made from the command line are the operator's: name the
        // operating-system user in their audit rows.
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        berth_core::set_operator(format!("cli:{user}"));
    }
    match cli.command {
        Command::Serve { .. } => serve(config, config_file, cli.global.data_dir.is_some()).await?,
        Command::Config { .. } => print!("{}", config.masked_toml()?),
        Command::Completions { .. } | Command::Man => {}
        Command::User(UserCommand::Add {
            name,
            admin,
            password_stdin,
        }) => {
            let berth = open(config).await?;
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let user = berth
                .add_user(&name, password.as_deref(), admin)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "added user `{}` (id {}){}",
                user.login,
                user.id,
                if admin { " as an administrator" } else { "" }
            );
        }
        Command::User(UserCommand::Passwd { name, .. }) => {
            let berth = open(config).await?;
            let password = read_password()?;
            berth
                .set_password(&name, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("password of user `{name}` set; their web sessions are ended");
        }
        Command::Mirror(cmd) => mirror(config, cmd).await?,
        Command::Proxy(ProxyCommand::Purge {
            registry,
            name,
            crates,
        }) => {
            let berth = open(config).await?;
            let report = berth
                .proxy_purge(&registry, name.as_deref(), crates)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            berth.close().await;
            let what = name.map_or_else(|| "every crate".to_string(), |n| format!("`{n}`"));
            println!(
                "registry `{registry}` forgot {} and {} of {what}",
                plural(
                    report.index_answers,
                    "cached index answer",
                    "cached index answers"
                ),
                plural(report.crates, "cached crate", "cached crates"),
            );
            if report.crates > 0 {
                println!("`berth gc` deletes the blobs that nothing else refers to");
            }
            println!(
                "running servers answer from memory for at most {} more (index_ttl_secs), then ask the upstream",
                plural(report.memo_ttl_secs, "second", "seconds")
            );
        }
        Command::Registry(RegistryCommand::Visibility {
            registry,
            visibility,
        }) => {
            let berth = open(config).await?;
            berth
                .set_registry_visibility(&registry, visibility == Visibility::Private)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("registry `{registry}` is now {}", visibility.as_str());
        }
        Command::User(UserCommand::List) => {
            let berth = open(config).await?;
            for u in berth
                .list_users()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!(
                    "{}\t{}{}{}",
                    u.id,
                    u.login,
                    if u.is_admin { "\tadmin" } else { "" },
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
        Command::User(
            cmd @ (UserCommand::Admin { .. }
            | UserCommand::Unadmin { .. }
            | UserCommand::Disable { .. }
            | UserCommand::Enable { .. }
            | UserCommand::Remove { .. }
            | UserCommand::ResetPassword { .. }),
        ) => {
            let berth = open(config).await?;
            let done = match cmd {
                UserCommand::Admin { name } => berth
                    .set_user_admin(None, &name, true)
                    .await
                    .map(|()| format!("user `{name}` is a server administrator")),
                UserCommand::Unadmin { name } => berth
                    .set_user_admin(None, &name, false)
                    .await
                    .map(|()| format!("user `{name}` is no longer a server administrator")),
                UserCommand::Disable { name } => berth
                    .set_user_disabled(None, &name, true)
                    .await
                    .map(|()| format!("user `{name}` is disabled: sessions ended, tokens refused")),
                UserCommand::Enable { name } => berth
                    .set_user_disabled(None, &name, false)
                    .await
                    .map(|()| format!("user `{name}` is enabled")),
                UserCommand::Remove { name } => berth
                    .remove_user(None, &name)
                    .await
                    .map(|()| format!("user `{name}` removed")),
                UserCommand::ResetPassword { name, .. } => {
                    let password = read_password()?;
                    berth
                        .reset_password(None, &name, &password)
                        .await
                        .map(|()| {
                            format!("password of user `{name}` reset; their web sessions are ended")
                        })
                }
                other => Err(berth_core::ServiceError::BadRequest(format!(
                    "not a change of a user: {other:?}"
                ))),
            }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{done}");
        }
        Command::Token(TokenCommand::Create {
            user,
            name,
            scopes,
            crates,
            registry,
            expires_in,
            expires_at,
            expires_in_days,
            allow_cidrs,
        }) => {
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_request()).collect();
            let request = berth_core::tokens::TokenRequest {
                name,
                scopes: (!scopes.is_empty()).then_some(scopes),
                crates,
                registry,
                expires_in: expires_in.or(expires_in_days.map(|d| format!("{d}d"))),
                expires_at,
                allowed_cidrs: allow_cidrs,
            };
            let berth = open(config).await?;
            let created = berth
                .create_token(&user, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let t = &created.token;
            let mut limits = vec![format!("scopes {}", t.scopes.join(","))];
            if !t.crates.is_empty() {
                limits.push(format!("crates {}", t.crates.join(",")));
            }
            if let Some(r) = &t.registry {
                limits.push(format!("registry {r}"));
            }
            if !t.allowed_cidrs.is_empty() {
                limits.push(format!("addresses {}", t.allowed_cidrs.join(",")));
            }
            if let Some(at) = t.expires_at {
                limits.push(format!("expiring {}", berth_core::tokens::format_time(at)));
            }
            eprintln!(
                "created token {} `{}` for user `{user}` with {}; it is shown only once:",
                t.id,
                t.name,
                limits.join(", ")
            );
            println!("{}", created.secret);
        }
        Command::Token(TokenCommand::List { user, json }) => {
            let berth = open(config).await?;
            let tokens: Vec<berth_core::tokens::TokenView> = berth
                .list_tokens(&user)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                for t in &tokens {
                    println!("{}", serde_json::to_string(t)?);
                }
            } else {
                print!("{}", token_table(&tokens));
            }
        }
        Command::Token(TokenCommand::Revoke { user, id, name }) => {
            use berth_core::tokens::TokenRef;
            let which = match (id, name) {
                (Some(id), _) => TokenRef::Id(id),
                (None, Some(name)) => TokenRef::Name(name),
                (None, None) => anyhow::bail!("give the token's --id or --name"),
            };
            let berth = open(config).await?;
            let id = berth
                .revoke_token(&user, &which)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked token {id} of user `{user}`");
        }
        Command::Migrate { to, max_items } => {
            let dst = Config::load_file_only(&to)?;
            let ends = berth_core::migrate::Endpoints::open(&config, &dst)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let bar = phase_bar();
            let report = ends
                .run(max_items, &show_phase(&bar))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
            bar.finish_and_clear();
            let report = report?;
            println!(
                "blobs: {} copied, {} already present, {} referenced",
                report.blobs_copied, report.blobs_already_present, report.blobs_total
            );
            for t in &report.tables {
                match t.counts {
                    Some((src, dst)) => println!(
                        "{}: {} copied (source {src}, destination {dst})",
                        t.table,
                        plural(t.copied, "row", "rows")
                    ),
                    None => println!(
                        "{}: {} copied (stopped here)",
                        t.table,
                        plural(t.copied, "row", "rows")
                    ),
                }
            }
            if report.incomplete {
                println!(
                    "incomplete: stopped at --max-items; run the same command again to continue"
                );
                std::process::exit(3);
            }
            println!("migration complete");
        }
        Command::Blobs(BlobsCommand::List) => {
            let berth = open(config).await?;
            let mut blobs = berth
                .list_blobs()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            blobs.sort();
            for (digest, _) in blobs {
                println!("{digest}");
            }
        }
        Command::Blobs(BlobsCommand::Verify) => {
            let berth = open(config).await?;
            let berth_core::BlobCheck { problems, checked } = berth
                .verify_blobs()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for p in &problems {
                println!("{p}");
            }
            if !problems.is_empty() {
                bail!("{} of {checked} blobs have problems", problems.len());
            }
            println!("all {checked} blobs present and verified");
        }
        Command::Role(RoleCommand::Grant {
            registry,
            who,
            role,
        }) => {
            let berth = open(config).await?;
            let holder = set_role(&berth, &registry, &who, Some(role)).await?;
            println!(
                "{holder} has the `{}` role in registry `{registry}`",
                role.as_str()
            );
        }
        Command::Role(RoleCommand::Revoke { registry, who }) => {
            let berth = open(config).await?;
            let holder = set_role(&berth, &registry, &who, None).await?;
            println!("{holder} has no role in registry `{registry}`");
        }
        Command::Role(RoleCommand::List { registry }) => {
            let berth = open(config).await?;
            for (login, role) in berth
                .registry_members(&registry)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("{login}\t{role}");
            }
            for (team, role) in berth
                .registry_team_roles(&registry)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("team:{team}\t{role}");
            }
        }
        Command::Team(TeamCommand::Add { name }) => {
            let berth = open(config).await?;
            berth
                .add_team(&name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("added team `{name}`; add members with `berth team member add {name} LOGIN`");
        }
        Command::Team(TeamCommand::List { json }) => {
            let berth = open(config).await?;
            for t in berth
                .list_teams()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"team": t.team.name, "members": t.members})
                    );
                } else {
                    println!("{}\t{}", t.team.name, t.members.join(","));
                }
            }
        }
        Command::Team(TeamCommand::Member(m)) => {
            let (team, user, add) = match m {
                TeamMemberCommand::Add { team, user } => (team, user, true),
                TeamMemberCommand::Remove { team, user } => (team, user, false),
            };
            let berth = open(config).await?;
            let changed = berth
                .set_team_member(&team, &user, add)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let state = if add { "a member" } else { "not a member" };
            let note = if changed { "" } else { " (unchanged)" };
            println!("user `{user}` is {state} of team `{team}`{note}");
        }
        Command::Fsck { json } => {
            let berth = open(config).await?;
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("checking versions");
            let report = berth
                .fsck(&|n| bar.set_message(plural(n, "version checked", "versions checked")))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
            bar.finish_and_clear();
            berth.close().await;
            let report = report?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).context("rendering the report")?
                );
            } else {
                for f in &report.findings {
                    println!("{f}");
                }
                println!(
                    "{}, {} read, {} stored: {}",
                    plural(report.versions as u64, "version", "versions"),
                    plural(report.blobs_checked as u64, "blob", "blobs"),
                    plural(report.blobs_stored as u64, "blob", "blobs"),
                    plural(report.findings.len() as u64, "finding", "findings")
                );
            }
            if !report.findings.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Backup { out } => {
            let bar = phase_bar();
            let report = berth_core::backup::backup(&config, &out, &show_phase(&bar))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
            bar.finish_and_clear();
            let report = report?;
            print_transfer(&report);
            println!("wrote {}", out.display());
        }
        Command::Restore { file, force } => {
            let bar = phase_bar();
            let report = berth_core::backup::restore(&config, &file, force, &show_phase(&bar))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
            bar.finish_and_clear();
            let report = report?;
            print_transfer(&report);
            println!("restored {}", file.display());
        }
        Command::Audit(args) => {
            let berth = open(config).await?;
            let result = audit::run(&berth, args).await;
            berth.close().await;
            result?;
        }
        Command::Gc { min_age_secs } => {
            let berth = open(config).await?;
            let n = berth
                .collect_garbage(min_age_secs)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "deleted {}",
                plural(n as u64, "unreferenced blob", "unreferenced blobs")
            );
        }
    }
    Ok(())
}

/// The versions a mirror command asks for.
async fn mirror_versions(
    berth: &Berth,
    select: &MirrorSelection,
) -> Result<(Vec<(String, String)>, berth_core::mirror::FillReport)> {
    use berth_core::mirror;
    let newest: usize = select
        .versions
        .strip_prefix("newest:")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
        .with_context(|| format!("--versions `{}`: expected newest:N", select.versions))?;
    let mut wanted = Vec::new();
    for lock in &select.lockfile {
        wanted.extend(mirror::wanted_from_lockfile(lock).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if let Some(list) = &select.crates {
        wanted.extend(mirror::wanted_from_list(list).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if wanted.is_empty() {
        bail!("nothing to mirror: give --lockfile FILE or --crates FILE");
    }
    let (versions, report) = berth
        .mirror_versions(&select.registry, &wanted, newest)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((versions, report))
}

/// `n` and the noun that fits it.
fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one look of every long command's progress (`mirror fill`,
/// `export`, `import`, `backup`, `restore`, `fsck`): on stderr, hidden when
/// that is not a terminal.
fn progress_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress bar over `n` items.
fn progress_bar(n: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64).with_style(progress_style());
    bar.set_message(what.to_string());
    bar
}

/// A progress bar whose phase, length and position the caller sets.
fn phase_bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(0).with_style(progress_style())
}

/// Progress of a backup or restore phase on `bar`. Length and position
/// change together (a frame drawn between them showed the last phase's
/// position over this one's length: "3/1"), and never past each other.
fn show_phase(bar: &indicatif::ProgressBar) -> impl Fn(&str, u64, u64) + '_ {
    move |phase, done, total| {
        bar.update(|state| {
            state.set_len(total.max(done));
            state.set_pos(done);
        });
        if bar.message() != phase {
            bar.set_message(phase.to_string());
        }
    }
}

fn print_transfer(report: &berth_core::backup::Report) {
    for (table, rows) in &report.tables {
        println!("{table}: {}", plural(*rows, "row", "rows"));
    }
    println!(
        "blobs: {} ({})",
        report.blobs,
        plural(report.bytes, "byte", "bytes")
    );
}

/// One line per crate that is missing or failed, then the totals; an error
/// (exit 1) when any crate asked for is missing or could not be fetched.
fn print_fill(report: &berth_core::mirror::FillReport, registry: &str) -> Result<()> {
    use berth_core::mirror::FillOutcome;
    let spelled = |n: &str, v: &str| {
        if v == "*" {
            format!("{n} (no version of it)")
        } else {
            format!("{n}@{v}")
        }
    };
    let mut missing = 0usize;
    let mut failed = 0usize;
    for (n, v, o) in &report.items {
        match o {
            FillOutcome::NotFound => {
                missing += 1;
                eprintln!("not on the upstream: {}", spelled(n, v));
            }
            FillOutcome::Failed(e) => {
                failed += 1;
                eprintln!("failed: {}: {e}", spelled(n, v));
            }
            FillOutcome::Fetched | FillOutcome::Present => {}
        }
    }
    let fetched = report.count(|o| *o == FillOutcome::Fetched);
    let present = report.count(|o| *o == FillOutcome::Present);
    println!(
        "{fetched} fetched, {present} already cached, {missing} not on the upstream, {failed} failed"
    );
    match (missing, failed) {
        (0, 0) => Ok(()),
        (m, 0) => bail!(
            "{} asked for not on the upstream of registry `{registry}` (private crates, or a \
             misspelt name or version?)",
            plural(m as u64, "crate was", "crates were"),
        ),
        (_, f) => bail!(
            "{} could not be fetched; run the same command again to retry",
            plural(f as u64, "crate", "crates"),
        ),
    }
}

async fn mirror(config: Config, cmd: MirrorCommand) -> Result<()> {
    let berth = open(config).await?;
    match cmd {
        MirrorCommand::Fill {
            select,
            concurrency,
        } => {
            let (versions, unresolved) = mirror_versions(&berth, &select).await?;
            let bar = progress_bar(versions.len(), "filling");
            let mut report = berth
                .mirror_fill(&select.registry, &versions, concurrency, &|_, _| bar.inc(1))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
            report.items.extend(unresolved.items);
            berth.close().await;
            return print_fill(&report, &select.registry);
        }
        MirrorCommand::Export { select, out } => {
            let (versions, unresolved) = mirror_versions(&berth, &select).await?;
            let bar = progress_bar(versions.len(), "exporting");
            let mut report = berth
                .mirror_export(&select.registry, &versions, &out, &|_, _| bar.inc(1))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            bar.finish_and_clear();
            println!("wrote {}", out.display());
            report.items.extend(unresolved.items);
            berth.close().await;
            return print_fill(&report, &select.registry);
        }
        MirrorCommand::Import { file, registry } => {
            let spinner = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{msg:>12} {spinner} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            spinner.set_message(format!("verifying and importing {}", file.display()));
            spinner.enable_steady_tick(std::time::Duration::from_millis(200));
            let report = berth
                .mirror_import(&registry, &file)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"));
            spinner.finish_and_clear();
            let report = report?;
            println!(
                "index files: {} written, {} unchanged; crates: {} written, {} already present",
                report.index_files_written,
                report.index_files_unchanged,
                report.crates_written,
                report.crates_present
            );
        }
    }
    berth.close().await;
    Ok(())
}

/// Grants or revokes a role of a user or a team; returns how to name the
/// holder in a message.
async fn set_role(
    berth: &berth_core::Berth,
    registry: &str,
    who: &Grantee,
    role: Option<berth_core::Role>,
) -> anyhow::Result<String> {
    let done = match (&who.user, &who.team) {
        (Some(user), _) => berth
            .set_role(registry, user, role)
            .await
            .map(|()| format!("user `{user}`")),
        (None, Some(team)) => berth
            .set_team_role(registry, team, role)
            .await
            .map(|()| format!("team `{team}`")),
        (None, None) => anyhow::bail!("give --user LOGIN or --team NAME"),
    };
    done.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Writes `bytes` to standard output; a reader that stopped early (`| head`)
/// is not an error.
fn print_bytes(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(()),
    }
}

/// A password from standard input (one line; the newline is not part of it).
fn read_password() -> anyhow::Result<String> {
    let mut p = String::new();
    std::io::stdin().take(4096).read_to_string(&mut p)?;
    let p = p.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A terminal that keeps every line drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Frames(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Frames {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.trim().is_empty() {
                if let Ok(mut frames) = self.0.lock() {
                    frames.push(s.to_string());
                }
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_backup_progress_frame_counts_past_its_length() {
        let frames = Frames::default();
        let bar = phase_bar();
        bar.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(
            frames.clone(),
        )));
        // What a backup reports: each table's rows as they are read (no
        // total known), then the blobs.
        let show = show_phase(&bar);
        for (phase, done, total) in [
            ("teams", 3, 3),
            ("users", 1, 1),
            ("versions", 7, 7),
            ("crates", 5, 5),
            ("blobs", 1, 4),
        ] {
            show(phase, done, total);
        }
        let frames = frames.0.lock().unwrap().clone();
        assert!(frames.len() >= 5, "{frames:?}");
        for frame in &frames {
            let counts = frame
                .split_whitespace()
                .find_map(|w| w.split_once('/'))
                .and_then(|(p, l)| Some((p.parse::<u64>().ok()?, l.parse::<u64>().ok()?)));
            let (pos, len) = counts.unwrap_or_else(|| panic!("no count in {frame:?}"));
            assert!(pos <= len, "a frame shows {pos}/{len}: {frame:?}");
        }
    }

    #[test]
    fn counts_take_the_noun_that_fits() {
        assert_eq!(plural(1u64, "row", "rows"), "1 row");
        assert_eq!(plural(0u64, "row", "rows"), "0 rows");
        assert_eq!(plural(2u64, "row", "rows"), "2 rows");
    }
}
