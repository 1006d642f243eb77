//! The command line: every command, subcommand and flag of `berth` as clap
//! types, with the values that have a fixed set of spellings (roles, token
//! scopes, registry visibility) parsed into typed values here. What a
//! command does is in `commands/`; nothing here opens or prints anything.

use std::path::PathBuf;

use berth_core::{Role, Scope};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Berth: a self-hosted registry for Rust crates.
///
/// Starts with `berth serve` on embedded defaults (SQLite and local files
/// under --data-dir). Settings come from the config file, then BERTH_*
/// environment variables (e.g. BERTH_DATABASE_URL for database.url), then
/// flags.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct Global {
    /// Directory for the default SQLite database and blob store
    /// [default: ./berth-data].
    #[arg(long, global = true, env = "BERTH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file. Without it (and without BERTH_CONFIG),
    /// commands other than `serve` use the file the last `berth serve` on
    /// this data dir was started with (recorded in DIR/config-path).
    #[arg(long, global = true, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the registry server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:7878].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// URL cargo uses to reach this server [default: http://ADDR].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Registry settings kept with the data.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Fill a proxy registry ahead of time, and move what some projects
    /// need to an air-gapped Berth in one bundle file.
    #[command(subcommand)]
    Mirror(MirrorCommand),
    /// What proxy registries cached.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// Security advisories (the RustSec database, OSV records), read
    /// offline: import a set, list what is in force.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// Each registry's supply-chain policy ([registries.policy] in the
    /// configuration): exceptions, the approved list, and why a version
    /// is served or not.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check a Cargo.lock against a registry: every locked package its
    /// policy blocks or an advisory affects. Exits 1 on any finding.
    Check {
        /// The registry to check against.
        #[arg(long)]
        registry: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The lockfile.
        #[arg(default_value = "Cargo.lock")]
        lockfile: PathBuf,
    },
    /// Check a Cargo.lock (or a .crate file) against a registry's
    /// transparency log: every package from the registry is in the log
    /// with the lockfile's checksum, under a checkpoint signed by a trusted
    /// key, and the log only grew since this client last looked. Runs
    /// anywhere (CI, a laptop): it speaks HTTP, opens no data dir. Exits 1
    /// on any failure.
    Verify(VerifyArgs),
    /// The transparency log's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Trusted publishing: which CI identities (an OIDC issuer's
    /// repository and workflow) may publish a crate with a 30-minute token
    /// they exchange their own OIDC token for, instead of a stored secret.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Copy a version from one hosted registry into another (staging to
    /// production): the same bytes and checksum, the same index line but
    /// for dependencies that named the target, owners carried over,
    /// audited. Refused, naming them, while the target lacks dependencies
    /// of the source registry (`--with-deps` promotes them first).
    Promote {
        /// CRATE@VERSION.
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        /// The registry it is in.
        #[arg(long)]
        from: String,
        /// The registry it is copied into.
        #[arg(long)]
        to: String,
        /// Promote missing dependencies first (the newest matching
        /// version of each), in order.
        #[arg(long)]
        with_deps: bool,
    },
    /// Webhooks: receivers told of publishes, yanks, unyanks, owner
    /// changes and advisory imports, with signed, retried deliveries.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Documentation built for every published version (`[docs]
    /// workers`) or uploaded from CI.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Manage who may read, publish in and administer each registry
    /// (needed for private registries; public ones let every user read and
    /// publish new crates).
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage teams: groups of users that hold roles in registries and own
    /// crates (`cargo owner --add team:NAME`). Members of an owning team
    /// publish new versions and yank; only user owners change owners.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Delete stored .crate blobs that no version refers to (left by
    /// publishes interrupted between storing the blob and committing), and
    /// tidy documentation: each registry kept within its docs budget, the
    /// files of docs sets replaced or dropped that long ago and of orphan
    /// sets deleted (every node also does this every 10 minutes).
    Gc {
        /// Only delete blobs and docs sets older than this many seconds
        /// (at least the request timeout).
        #[arg(long, default_value_t = 3600)]
        min_age_secs: i64,
    },
    /// Copy this registry (metadata and blobs, every blob verified) to the
    /// stores of another configuration, e.g. from SQLite + files to
    /// PostgreSQL + S3. Safe to interrupt and re-run; a re-run copies what is
    /// missing and updates what changed. Stop writes for the final pass.
    Migrate {
        /// TOML configuration of the destination (only the file is read, not
        /// the environment).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Copy at most this many blobs and rows in this run (re-run to go on).
        #[arg(long, value_name = "N")]
        max_items: Option<u64>,
    },
    /// Inspect the blob store.
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// Write a consistent backup of this registry to one file while it
    /// keeps serving: every table `migrate` copies, read as of one commit,
    /// every blob a version refers to, and a manifest of sha256 checksums.
    /// Proxy caches are left out (they refill from their upstreams).
    Backup {
        /// The backup file (written as FILE.partial, renamed when complete).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into this configuration's stores, which must be
    /// empty. Every member is verified against the manifest before anything
    /// is written.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Restore into stores that are not empty (rows with the same ids
        /// are overwritten); refused when a target's transparency log went
        /// further than the backup's.
        #[arg(long)]
        force: bool,
    },
    /// Check the metadata and the blob store against each other: every
    /// version's blob exists with its size and sha256, every stored index
    /// line parses and agrees with its version row, owners, roles and tokens
    /// refer to what exists; lists blobs nothing refers to. Changes
    /// nothing. Exits 1 on any finding.
    Fsck {
        /// Print the report as JSON (for monitoring).
        #[arg(long)]
        json: bool,
    },
    /// The audit log of every change and refused attempt: list it
    /// (filtered; --json for JSON lines), or `verify` its hash chain.
    Audit(AuditArgs),
    /// Print a completion script for SHELL on standard output, e.g.
    /// `berth completions bash > /etc/bash_completion.d/berth`, or
    /// `berth completions zsh > ~/.zfunc/_berth`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on standard output, e.g.
    /// `berth man > /usr/local/share/man/man1/berth.1`.
    Man,
    /// Print the effective configuration (after file, environment, flags),
    /// secrets masked.
    Config {
        #[command(subcommand)]
        action: Option<ConfigCommand>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new key that signs the transparency log's checkpoints: its
    /// secret goes to a new file (mode 0600; never overwritten), its public
    /// half (what `berth verify --key` takes) is printed. Give every node
    /// the file ([transparency] key_file, or its text in
    /// BERTH_TRANSPARENCY_KEY).
    Generate {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key's name (no spaces, no `+`) [default: berth-HOST of the
        /// public URL].
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdvisoriesCommand {
    /// Put an advisory set in force in place of the previous one: a
    /// checkout of the RustSec advisory database, a .tar.gz/.tar/.zip of
    /// one, or a directory or archive of OSV .json files. All or nothing:
    /// a refused input leaves the previous set in force. Running servers
    /// load it within seconds.
    Import {
        /// The directory or archive.
        path: PathBuf,
    },
    /// The advisories in force (withdrawn ones marked).
    List {
        /// Only the advisories of this crate (any spelling).
        #[arg(long = "crate", value_name = "NAME")]
        krate: Option<String>,
        /// Print JSON (what GET /api/v1/advisories answers).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Let a CI identity publish a crate. The configuration acts for a
    /// user (an owner of the crate, or for a crate that does not exist yet
    /// an admin of the registry): exchanged tokens are theirs, limited to
    /// the crate, publishing and 30 minutes.
    Add {
        /// The crate (it need not exist yet).
        #[arg(value_name = "CRATE")]
        krate: String,
        /// The hosted registry the crate is in (or a virtual registry that
        /// publishes to it).
        #[arg(long)]
        registry: String,
        /// A configured issuer's name ([[trusted_publishing.issuers]]).
        #[arg(long)]
        issuer: String,
        /// OWNER/REPO (GitHub), or GROUP[/SUBGROUP]/PROJECT (GitLab).
        #[arg(long)]
        repository: String,
        /// The workflow file under .github/workflows (`release.yml`), or
        /// a GitLab pipeline file's path (`.gitlab-ci.yml`).
        #[arg(long)]
        workflow: String,
        /// The deployment environment the job must run in [default: any].
        #[arg(long)]
        environment: Option<String>,
        /// The user the configuration acts for [default: the crate's first
        /// owner].
        #[arg(long, value_name = "LOGIN")]
        user: Option<String>,
    },
    /// A crate's trust configurations.
    List {
        #[arg(value_name = "CRATE")]
        krate: String,
        #[arg(long)]
        registry: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Accept only trusted publishing for a crate: publishes with ordinary
    /// tokens are refused (yanks and owner changes are not). `--off`
    /// accepts them again.
    Only {
        #[arg(value_name = "CRATE")]
        krate: String,
        #[arg(long)]
        registry: String,
        #[arg(long)]
        off: bool,
    },
    /// Remove one of a crate's trust configurations (by the id `list`
    /// shows).
    Remove {
        #[arg(value_name = "CRATE")]
        krate: String,
        #[arg(long)]
        registry: String,
        #[arg(long)]
        id: i64,
    },
}

/// `berth docs`.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Queue a version's docs build again (a node with `[docs] workers`
    /// takes it); audited.
    Rebuild {
        /// CRATE@VERSION.
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        /// The registry it is in.
        #[arg(long)]
        registry: String,
    },
    /// Build queued docs on this machine, without serving: a dedicated
    /// docs machine beside the registry's nodes (same configuration and
    /// stores; needs bubblewrap and the `[docs] toolchain`). Runs until
    /// SIGTERM or Ctrl-C, then hands builds in progress back to the queue.
    Worker {
        /// Builds at once [default: `[docs] workers`, at least 1].
        #[arg(long)]
        workers: Option<u32>,
    },
    /// A version's docs build: its state (queued, building, ok, failed),
    /// attempts and log.
    Status {
        /// CRATE@VERSION.
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        /// The registry it is in.
        #[arg(long)]
        registry: String,
    },
}

/// `berth webhook`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a receiver. Its host must be in `[webhooks] allowed_targets`.
    Add {
        /// Where deliveries are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// Comma-separated: publish, yank, unyank, owner, advisory.
        #[arg(long)]
        events: String,
        /// Only this registry's changes [default: every registry's].
        #[arg(long)]
        registry: Option<String>,
        /// The environment variable holding the HMAC secret deliveries
        /// are signed with (`X-Berth-Signature`); every node needs it.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// Every receiver.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a receiver and its deliveries.
    Remove { id: i64 },
    /// Send a receiver a `ping` delivery.
    Test { id: i64 },
    /// The latest deliveries, newest first.
    Deliveries {
        /// Only those failing (still retried) or given up.
        #[arg(long)]
        failed: bool,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again, now (whatever became of it).
    Redeliver { id: i64 },
}

/// `berth policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Serve one version whatever the registry's policy says (an audited
    /// exception). Running servers apply it within seconds.
    Allow {
        /// CRATE@VERSION.
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        #[arg(long)]
        registry: String,
        /// Why (kept with the exception and in the audit log).
        #[arg(long)]
        reason: String,
        /// Let the exception lapse after this long: `30d`, `12h`
        /// [default: never].
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Remove the exceptions for one version.
    Disallow {
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        #[arg(long)]
        registry: String,
    },
    /// Put a crate on the registry's approved list (`approved_only`):
    /// every version, or those matching a requirement (`serde@^1`).
    Approve {
        #[arg(value_name = "CRATE[@REQ]")]
        target: String,
        #[arg(long)]
        registry: String,
    },
    /// Take a crate off the approved list (every entry of it).
    Unapprove {
        #[arg(value_name = "CRATE")]
        name: String,
        #[arg(long)]
        registry: String,
    },
    /// The registry's policy, exceptions and approved list.
    List {
        #[arg(long)]
        registry: String,
        #[arg(long)]
        json: bool,
    },
    /// Say which rules pass or block one version, and why.
    Explain {
        #[arg(value_name = "CRATE@VERSION")]
        target: String,
        #[arg(long)]
        registry: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a configuration file as a start would (file, then environment,
    /// then flags; S3 credentials present; the TLS certificate and key load
    /// and match), without opening the database or
    /// reaching the network, and print the effective configuration with
    /// secrets masked. Exits non-zero on any problem.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

/// Who a role is for: one user, or every member of a team.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Grantee {
    /// A user's login.
    #[arg(long)]
    pub user: Option<String>,
    /// A team's name (its members hold the role while they are members).
    #[arg(long)]
    pub team: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Give a user or a team a role in a registry: read, publish, promote
    /// or admin (each includes the ones before it; promote may `berth
    /// promote` into it; admin acts as owner of every crate). A user holds
    /// the highest of its own and its teams' roles.
    Grant {
        #[arg(long, default_value = "main")]
        registry: String,
        #[command(flatten)]
        who: Grantee,
        #[arg(long)]
        role: Role,
    },
    /// Take a user's or a team's role in a registry away.
    Revoke {
        #[arg(long, default_value = "main")]
        registry: String,
        #[command(flatten)]
        who: Grantee,
    },
    /// List the users and teams with a role in a registry.
    List {
        #[arg(long, default_value = "main")]
        registry: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Add a team (1-64 ASCII letters, digits, `-`, `_` or `.`).
    Add { name: String },
    /// List teams with their members.
    List {
        /// One JSON object per line: {"team":..,"members":[..]}.
        #[arg(long)]
        json: bool,
    },
    /// Add users to a team or remove them.
    #[command(subcommand)]
    Member(TeamMemberCommand),
}

#[derive(Subcommand, Debug)]
pub enum TeamMemberCommand {
    /// Make a user a member of a team.
    Add { team: String, user: String },
    /// Remove a user from a team.
    Remove { team: String, user: String },
}

#[derive(Subcommand, Debug)]
pub enum BlobsCommand {
    /// List stored blobs (sha256), one per line.
    List,
    /// Check that every published version's blob exists and matches its
    /// checksum; exits non-zero on any problem.
    Verify,
}

#[derive(Args, Debug)]
pub struct MirrorSelection {
    /// The proxy registry to fill.
    #[arg(long)]
    pub registry: String,
    /// A Cargo.lock whose registry packages are wanted (repeatable).
    #[arg(long, value_name = "FILE")]
    pub lockfile: Vec<PathBuf>,
    /// A file of crates, one per line: NAME, NAME@VERSION or NAME VERSION.
    #[arg(long, value_name = "FILE")]
    pub crates: Option<PathBuf>,
    /// For crates named without a version: how many of the newest
    /// non-yanked versions, as `newest:N`.
    #[arg(long, value_name = "newest:N", default_value = "newest:1")]
    pub versions: String,
    /// Every version the upstream has (yanked ones too), read from its
    /// change feed: the upstream must be a Berth registry. Run it again to
    /// take what was published since; what is cached is not fetched twice.
    #[arg(long, conflicts_with_all = ["lockfile", "crates", "versions"])]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum MirrorCommand {
    /// Fetch what the lockfiles or the crate list need into a proxy
    /// registry, with bounded concurrency; safe to interrupt and run again.
    Fill {
        #[command(flatten)]
        select: MirrorSelection,
        /// Upstream fetches at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Fill, then write those index files and crates into one bundle file.
    Export {
        #[command(flatten)]
        select: MirrorSelection,
        /// The bundle to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Load a bundle into a proxy registry (no network needed), verifying
    /// every checksum first, and with --key every crate against the source
    /// registry's signed transparency log; importing it twice changes
    /// nothing.
    Import {
        /// The bundle file.
        file: PathBuf,
        #[arg(long)]
        registry: String,
        /// A key the source's checkpoints are signed with (its
        /// /r/NAME/log/key): the key text, or a file holding it
        /// (repeatable). Without one, nothing is verified against a log.
        #[arg(long = "key", value_name = "KEY|FILE")]
        keys: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProxyCommand {
    /// Forget what a proxy cached of one crate (every spelling) or of all:
    /// index files and remembered "not found" answers, so that the next
    /// request asks the upstream. Works while servers run; each keeps its
    /// in-memory copy for at most the proxy's index_ttl_secs. Audited.
    Purge {
        /// The proxy registry.
        #[arg(long)]
        registry: String,
        /// The crate [default: every crate].
        #[arg(value_name = "CRATE")]
        name: Option<String>,
        /// Also forget which .crate files it holds (`berth gc` then deletes
        /// the blobs nothing else refers to; they are fetched again when
        /// asked for).
        #[arg(long)]
        crates: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Change whether a registry is private (needs a token for everything)
    /// or public. Set `private` in the configuration to match: a node whose
    /// configuration disagrees with the stored setting refuses to start.
    Visibility {
        /// The registry's name.
        registry: String,
        #[arg(value_enum)]
        visibility: Visibility,
    },
    /// How far a replica registry has followed its primary: the feed
    /// sequence applied and the primary's newest, when it was last caught
    /// up, which node follows, and the last error.
    ReplicaStatus {
        /// The replica registry's name.
        registry: String,
    },
    /// Make a replica start over: its next step reads the primary's change
    /// feed from the start (what it holds is kept; nothing is copied twice)
    /// and trusts the primary's transparency log as it is then. For a
    /// primary restored from a backup on purpose, whose log the replica
    /// otherwise refuses as a rewritten history.
    ReplicaResync {
        /// The replica registry's name.
        registry: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// Login name (used by `cargo owner --add LOGIN`).
        name: String,
        /// Make the user an administrator (may change any crate).
        #[arg(long)]
        admin: bool,
        /// Read a password for the web UI from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password for the web UI (ends the user's sessions).
    Passwd {
        /// The user's login.
        name: String,
        /// Read the new password from standard input (required: a password
        /// is never taken from the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users (with `admin` and `disabled` when they are).
    List,
    /// Make a user a server administrator.
    Admin { name: String },
    /// Make an administrator an ordinary user again.
    Unadmin { name: String },
    /// Disable a user: no web sign-in, every token refused, sessions ended
    /// (`enable` gives everything back).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Remove a user with their tokens, sessions, roles, team memberships
    /// and crate ownerships; refused while they are the last user owner of
    /// a crate (add another owner first, or disable them instead).
    Remove { name: String },
    /// Reset a user's web UI password (ends their sessions).
    ResetPassword {
        name: String,
        /// Read the new password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; prints it as the last line of standard output.
    Create {
        /// The user the token acts as.
        #[arg(long)]
        user: String,
        /// A label to recognise (and revoke) the token by, unique among the
        /// user's active tokens [default: token-ID].
        #[arg(long)]
        name: Option<String>,
        /// Limit the token to these scopes (repeatable): read, publish-new,
        /// publish-update, yank, change-owners [default: all].
        #[arg(long = "scope", value_name = "SCOPE", value_parser = scope_list)]
        scopes: Vec<ScopeList>,
        /// Limit publish, yank and owner changes to crates matching these
        /// patterns (repeatable): a crate name, or the start of one and `*`
        /// (`acme-*`); folded like crate names [default: every crate].
        #[arg(long = "crates", value_name = "PATTERN")]
        crates: Vec<String>,
        /// Make the token work on this registry only [default: every
        /// registry].
        #[arg(long, value_name = "REGISTRY")]
        registry: Option<String>,
        /// Expire the token after this long: `90d`, `12h`, `30m`, `30s`
        /// [default: never].
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["expires_at", "expires_in_days"])]
        expires_in: Option<String>,
        /// Expire the token at this date (`2027-01-31`, its start in UTC) or
        /// RFC 3339 time.
        #[arg(long, value_name = "TIME", conflicts_with = "expires_in_days")]
        expires_at: Option<String>,
        /// The older form of `--expires-in Nd`.
        #[arg(long, value_name = "DAYS", hide = true)]
        expires_in_days: Option<u32>,
        /// Accept the token only from addresses in this CIDR range
        /// (repeatable) [default: any address].
        #[arg(long = "allow-cidr", value_name = "CIDR")]
        allow_cidrs: Vec<String>,
    },
    /// List a user's tokens (never their secrets).
    List {
        #[arg(long)]
        user: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or by name.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "name"])))]
    Revoke {
        #[arg(long)]
        user: String,
        /// The token's id (`berth token list`).
        #[arg(long)]
        id: Option<i64>,
        /// The name of an active token.
        #[arg(long)]
        name: Option<String>,
    },
}

// The options of `berth verify` (the variant's doc comment is its help).
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The registry's index: sparse+https://HOST/r/REGISTRY/index/ (as in
    /// cargo's configuration).
    #[arg(long, value_name = "URL")]
    pub index: String,
    /// A verifier key to trust (NAME+HASH+BASE64, as GET
    /// /r/REGISTRY/log/key answers; compare it with what the operator
    /// published), or a file of them, one a line. Repeatable: a checkpoint
    /// signed by any of them is accepted (keys rotate).
    #[arg(long = "key", value_name = "KEY|FILE", required = true)]
    pub keys: Vec<String>,
    /// A read token, for a private registry (or BERTH_VERIFY_TOKEN, or
    /// CARGO_REGISTRY_TOKEN).
    #[arg(long, env = "BERTH_VERIFY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The source id a lockfile names for packages the registry serves in
    /// another source's place (source replacement: cargo writes the
    /// original's id, e.g. registry+https://...). Repeatable.
    #[arg(long = "source", value_name = "SOURCE_ID")]
    pub sources: Vec<String>,
    /// Where the newest checkpoint verified of each log is kept
    /// [default: berth/verify in the user's config dir].
    #[arg(long, env = "BERTH_VERIFY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON document (packages, logs, summary).
    #[arg(long)]
    pub json: bool,
    /// A Cargo.lock, or a .crate file.
    #[arg(value_name = "Cargo.lock|FILE.crate")]
    pub file: PathBuf,
}

// The options of `berth audit` (the variant's doc comment is its help; a
// doc comment here would add to it).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Entries at or after this time: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ
    /// (UTC) or Unix seconds.
    #[arg(long, value_name = "DATE", conflicts_with = "since_secs")]
    pub since: Option<String>,
    /// Entries of the last N seconds.
    #[arg(long, value_name = "N")]
    pub since_secs: Option<i64>,
    /// Entries by this user.
    #[arg(long, value_name = "LOGIN")]
    pub actor: Option<String>,
    /// Entries about this crate.
    #[arg(long = "crate", value_name = "NAME")]
    pub crate_name: Option<String>,
    /// Entries of this action (publish, yank, unyank, owner.add,
    /// owner.remove, user.create, user.admin, user.disable, user.remove,
    /// session.login, token.create, token.revoke, role.grant, role.revoke,
    /// bulk.load, server.start, ...).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Print one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of the whole log; exits non-zero and names the
    /// first bad entry when an entry was changed or removed.
    Verify,
}

// Whether a registry needs a token for everything. (Doc comments on the
// variants would show in `--help` as descriptions of the values.)
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    /// The word as given on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// The scopes of one `--scope` (a name, or several separated by commas).
#[derive(Clone, Debug)]
pub struct ScopeList(pub Vec<Scope>);

impl ScopeList {
    /// The scopes in their one spelling, separated by commas, as the core
    /// reads a requested scope.
    pub fn to_request(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        names.join(",")
    }
}

/// Parses one `--scope` as the core reads a list: comma-separated names,
/// blanks around them and empty entries ignored.
fn scope_list(value: &str) -> Result<ScopeList, String> {
    let mut scopes = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        scopes.push(name.parse::<Scope>()?);
    }
    Ok(ScopeList(scopes))
}

impl Command {
    /// Commands that only read: on SQLite they refuse a data dir without a
    /// database instead of creating one.
    pub fn needs_existing_data(&self) -> bool {
        match self {
            Command::User(UserCommand::Add { .. })
            | Command::Team(TeamCommand::Add { .. })
            | Command::Serve { .. }
            | Command::Config { .. }
            | Command::Completions { .. }
            | Command::Man
            | Command::Verify(_)
            | Command::Registry(_)
            | Command::Advisories(AdvisoriesCommand::Import { .. })
            | Command::Keys(_)
            | Command::Mirror(_)
            | Command::Migrate { .. }
            | Command::Restore { .. } => false,
            Command::User(_)
            | Command::Token(_)
            | Command::Role(_)
            | Command::Team(_)
            | Command::Gc { .. }
            | Command::Proxy(_)
            | Command::Blobs(_)
            | Command::Backup { .. }
            | Command::Fsck { .. }
            | Command::Advisories(_)
            | Command::Policy(_)
            | Command::Trust(_)
            | Command::Webhook(_)
            | Command::Docs(_)
            | Command::Promote { .. }
            | Command::Check { .. }
            | Command::Audit(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_list_reads_as_the_core_reads_one() {
        let list = scope_list(" yank, publish-new,,").unwrap();
        assert_eq!(list.to_request(), "yank,publish-new");
        assert_eq!(scope_list("").unwrap().to_request(), "");
        assert_eq!(
            scope_list("read,publish").unwrap_err(),
            "unknown token scope `publish`; expected one of: read, publish-new, \
             publish-update, yank, change-owners"
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
