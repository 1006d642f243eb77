//! A real LDAP directory for "sign in with LDAP" tests: Debian's `slapd`
//! (OpenLDAP) on 127.0.0.1, on a port the kernel picked, with a config
//! file, an MDB database and a log of its own in a temporary directory,
//! never the system's configuration, database or service. It holds
//! `dc=berth,dc=test` with `ou=people` for users (`inetOrgPerson`, found
//! by `uid`), `ou=groups` for groups (`groupOfNames` with `member` DNs),
//! and a service account, `cn=reader`, that may read everything but
//! passwords. Anyone may bind with a user's password; nobody else reads.
//! Tests change the directory through the OpenLDAP command-line tools as
//! the directory's administrator.
//!
//! [`TestDirectory::start_tls`] also speaks TLS: a throwaway CA and a
//! certificate for `127.0.0.1` (made with the `openssl` command-line tool
//! in the directory's temporary directory), StartTLS on its `ldap://` URL
//! and a second listener for `ldaps://`. The fixture's own tool calls stay
//! plain `ldap://` on loopback; slapd does not require TLS.
//!
//! `slapd` and the client tools (`ldap-utils`) are installed with apt the
//! first time they are missing, once per process and under a file lock
//! across processes (nextest runs each test in its own). A directory that
//! cannot be installed, started or changed fails the test: it never skips.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;

/// The administrator: the database's root DN, which no ACL limits.
const ROOT_DN: &str = "cn=admin,dc=berth,dc=test";
const ROOT_PASSWORD: &str = "berth-admin-password";
/// The service account that searches the directory.
const READER_DN: &str = "cn=reader,dc=berth,dc=test";
const READER_PASSWORD: &str = "berth-reader-password";

/// Where slapd's modules are on Debian.
const MODULE_PATH: &str = "/usr/lib/ldap";
/// Where Debian keeps the schema files slapd.conf includes.
const SCHEMA_DIR: &str = "/etc/ldap/schema";
/// Held (with `flock`) while one process installs the packages.
const INSTALL_LOCK: &str = "/tmp/berth-slapd-install.lock";
/// The client tools the directory is driven with (all from `ldap-utils`).
const CLIENT_TOOLS: [&str; 5] = [
    "ldapadd",
    "ldapmodify",
    "ldapdelete",
    "ldapsearch",
    "ldapwhoami",
];

/// How long slapd may take to answer once started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one client tool may run before it is killed: a server that
/// accepts connections and never answers must not hang a test.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for each readiness probe while slapd starts.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How many ports to try when another process takes the one picked.
const PORT_ATTEMPTS: usize = 5;
/// How long the certificates of a TLS directory are valid.
const CERT_DAYS: &str = "2";
/// The `openssl` configuration the certificates are made with: the CA's
/// and the server's extensions. rustls (webpki) wants a v3 CA with
/// `CA:TRUE` and a server certificate naming the address in its
/// subjectAltName (the common name does not count).
const OPENSSL_CNF: &str = "\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A running `slapd` with its own temporary directory; stopped (killed and
/// waited for) and removed when dropped.
pub struct TestDirectory {
    child: Child,
    port: u16,
    /// The `ldaps://` port and the TLS files of a directory started with
    /// [`start_tls`](Self::start_tls).
    tls: Option<(u16, TlsFiles)>,
    /// Config, database, certificates, pid file and log; removed after
    /// slapd is stopped.
    _dir: TempDir,
}

/// A throwaway CA and a server certificate it signed, as PEM files.
#[derive(Clone, Debug)]
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestDirectory {
    /// The directory's base DN.
    pub const BASE: &'static str = "dc=berth,dc=test";

    /// Installs slapd if needed, starts it on a free loopback port and
    /// loads the base entries: the suffix, `ou=people`, `ou=groups` and the
    /// reader service account. Returns once it answers binds. Plain LDAP
    /// only: no certificate, no StartTLS, no `ldaps://`.
    pub fn start() -> TestDirectory {
        Self::launch(false)
    }

    /// As [`start`](Self::start), with TLS: a throwaway CA
    /// ([`ca_file`](Self::ca_file)) signs a certificate for `127.0.0.1`
    /// (and `localhost`); [`url`](Self::url) offers StartTLS and
    /// [`ldaps_url`](Self::ldaps_url) is a second listener speaking TLS
    /// from the start. Returns once both answer binds (the `ldaps://` one
    /// checked against the CA).
    pub fn start_tls() -> TestDirectory {
        Self::launch(true)
    }

    fn launch(with_tls: bool) -> TestDirectory {
        ensure_installed();
        let dir = tempfile::Builder::new()
            .prefix("berth-slapd-")
            .tempdir()
            .expect("a temporary directory for slapd");
        let db = dir.path().join("db");
        fs::create_dir(&db).expect("slapd's database directory");
        let tls = with_tls.then(|| make_certificates(&dir.path().join("tls")));
        let conf = dir.path().join("slapd.conf");
        fs::write(&conf, slapd_conf(dir.path(), tls.as_ref())).expect("write slapd.conf");

        let log = dir.path().join("slapd.log");
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let ports = free_ports(if tls.is_some() { 2 } else { 1 });
            let (port, ldaps_port) = (ports[0], ports.get(1).copied());
            let mut child = spawn_slapd(&conf, port, ldaps_port, &log);
            match wait_until_ready(&mut child, port, &log) {
                Ok(()) => {
                    let directory = TestDirectory {
                        child,
                        port,
                        tls: ldaps_port.zip(tls),
                        _dir: dir,
                    };
                    directory.check_ldaps(&log);
                    directory.load_base_entries();
                    return directory;
                }
                // Another process took the port between picking and binding
                // it: try another.
                Err(text) => last_log = text,
            }
        }
        panic!(
            "slapd could not bind a free port in {PORT_ATTEMPTS} attempts; its last log:\n{last_log}"
        );
    }

    /// `ldap://127.0.0.1:PORT` (offering StartTLS when started with
    /// [`start_tls`](Self::start_tls)).
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT2` for a directory started with
    /// [`start_tls`](Self::start_tls); `None` for a plain one.
    pub fn ldaps_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(port, _)| format!("ldaps://127.0.0.1:{port}"))
    }

    /// The PEM file of the throwaway CA that signed the directory's
    /// certificate. Panics for a directory started without TLS.
    pub fn ca_file(&self) -> PathBuf {
        match &self.tls {
            Some((_, files)) => files.ca.clone(),
            None => panic!(
                "this test directory has no TLS (no CA file): start it with \
                 TestDirectory::start_tls()"
            ),
        }
    }

    /// Where users are: `ou=people,dc=berth,dc=test`.
    pub fn user_base(&self) -> String {
        format!("ou=people,{}", Self::BASE)
    }

    /// Where groups are: `ou=groups,dc=berth,dc=test`.
    pub fn group_base(&self) -> String {
        format!("ou=groups,{}", Self::BASE)
    }

    /// The DN of the service account that may search the directory.
    pub fn bind_dn(&self) -> String {
        READER_DN.into()
    }

    /// The service account's password.
    pub fn bind_password(&self) -> String {
        READER_PASSWORD.into()
    }

    /// The DN of the user `uid` (whether or not it exists), its value
    /// escaped as RFC 4514 says.
    pub fn user_dn(&self, uid: &str) -> String {
        format!("uid={},{}", escape_dn_value(uid), self.user_base())
    }

    /// The DN of the group `cn` (whether or not it exists).
    pub fn group_dn(&self, cn: &str) -> String {
        format!("cn={},{}", escape_dn_value(cn), self.group_base())
    }

    /// Adds the user `uid` (an `inetOrgPerson` under `ou=people`) with this
    /// password and `name` as its `cn` and `sn`.
    pub fn add_user(&self, uid: &str, password: &str, name: &str) {
        let mut ldif = ldif_line("dn", &self.user_dn(uid));
        for class in ["top", "person", "organizationalPerson", "inetOrgPerson"] {
            ldif.push_str(&ldif_line("objectClass", class));
        }
        ldif.push_str(&ldif_line("uid", uid));
        ldif.push_str(&ldif_line("cn", name));
        ldif.push_str(&ldif_line("sn", name));
        ldif.push_str(&ldif_line("userPassword", password));
        self.admin("ldapadd", &[], &ldif);
    }

    /// Deletes the user `uid`; groups that name it keep naming it.
    pub fn delete_user(&self, uid: &str) {
        self.admin("ldapdelete", &[&self.user_dn(uid)], "");
    }

    /// Replaces the password of the user `uid`.
    pub fn set_password(&self, uid: &str, password: &str) {
        let ldif = modify_replace(&self.user_dn(uid), "userPassword", &[password]);
        self.admin("ldapmodify", &[], &ldif);
    }

    /// Adds the group `cn` (a `groupOfNames` under `ou=groups`) whose
    /// members are these users. `groupOfNames` needs a member: an empty
    /// list makes the reader service account its only member.
    pub fn add_group(&self, cn: &str, member_uids: &[&str]) {
        let mut ldif = ldif_line("dn", &self.group_dn(cn));
        for class in ["top", "groupOfNames"] {
            ldif.push_str(&ldif_line("objectClass", class));
        }
        ldif.push_str(&ldif_line("cn", cn));
        for member in self.member_dns(member_uids) {
            ldif.push_str(&ldif_line("member", &member));
        }
        self.admin("ldapadd", &[], &ldif);
    }

    /// Makes these users the only members of the group `cn` (the reader
    /// service account alone when the list is empty, as in
    /// [`add_group`](Self::add_group)).
    pub fn set_members(&self, cn: &str, member_uids: &[&str]) {
        let members = self.member_dns(member_uids);
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let ldif = modify_replace(&self.group_dn(cn), "member", &members);
        self.admin("ldapmodify", &[], &ldif);
    }

    /// The `member` values for these users, or the placeholder.
    fn member_dns(&self, uids: &[&str]) -> Vec<String> {
        if uids.is_empty() {
            vec![READER_DN.into()]
        } else {
            uids.iter().map(|uid| self.user_dn(uid)).collect()
        }
    }

    /// Runs an ldap-utils `tool` bound as the administrator, with `args`
    /// after the connection options and `ldif` on its standard input;
    /// panics with its output unless it succeeds.
    fn admin(&self, tool: &str, args: &[&str], ldif: &str) {
        let url = self.url();
        let mut command = client(tool, TOOL_TIMEOUT);
        command
            .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        // A tool that fails early closes its input: its status and output
        // then say more than the broken pipe does.
        let written = child
            .stdin
            .take()
            .expect("the tool's standard input")
            .write_all(ldif.as_bytes());
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for {tool}: {e}"));
        assert!(
            out.status.success() && written.is_ok(),
            "{tool} {args:?} on the test directory failed ({}; writing its input: {written:?}):\n\
             {}{}\nLDIF:\n{ldif}",
            describe(&out.status, TOOL_TIMEOUT),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    /// For a TLS directory: checks that its `ldaps://` listener answers a
    /// bind whose certificate the CA verifies; panics with the tool's
    /// output and slapd's log if not (a certificate slapd cannot use is
    /// not a port another process took: no retry).
    fn check_ldaps(&self, log: &Path) {
        let (Some(url), Some((_, files))) = (self.ldaps_url(), &self.tls) else {
            return;
        };
        let out = tls_client("ldapwhoami", TOOL_TIMEOUT, &files.ca)
            .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .output()
            .expect("run ldapwhoami");
        assert!(
            out.status.success(),
            "slapd does not answer over TLS on {url} ({}):\n{}{}\nits log:\n{}",
            describe(&out.status, TOOL_TIMEOUT),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// The suffix, the two organisational units and the reader.
    fn load_base_entries(&self) {
        let ldif = format!(
            "dn: {base}\n\
             objectClass: dcObject\n\
             objectClass: organization\n\
             dc: berth\n\
             o: Berth test directory\n\
             \n\
             dn: ou=people,{base}\n\
             objectClass: organizationalUnit\n\
             ou: people\n\
             \n\
             dn: ou=groups,{base}\n\
             objectClass: organizationalUnit\n\
             ou: groups\n\
             \n\
             dn: {READER_DN}\n\
             objectClass: organizationalRole\n\
             objectClass: simpleSecurityObject\n\
             cn: reader\n\
             description: The service account Berth searches the directory with\n\
             userPassword: {READER_PASSWORD}\n",
            base = Self::BASE,
        );
        self.admin("ldapadd", &[], &ldif);
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The slapd.conf of a directory kept in `dir`, with these certificate
/// files when it speaks TLS.
fn slapd_conf(dir: &Path, tls: Option<&TlsFiles>) -> String {
    let mut conf = String::new();
    for schema in ["core", "cosine", "inetorgperson", "nis"] {
        conf.push_str(&format!("include {SCHEMA_DIR}/{schema}.schema\n"));
    }
    conf.push_str(&format!(
        "pidfile \"{pid}\"\nargsfile \"{args}\"\n",
        pid = dir.join("slapd.pid").display(),
        args = dir.join("slapd.args").display(),
    ));
    // Global TLS settings (before any database). Clients are not asked
    // for certificates (`TLSVerifyClient` is `never` by default).
    if let Some(tls) = tls {
        conf.push_str(&format!(
            "TLSCACertificateFile \"{ca}\"\n\
             TLSCertificateFile \"{cert}\"\n\
             TLSCertificateKeyFile \"{key}\"\n",
            ca = tls.ca.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
        ));
    }
    // Debian builds back_mdb as a module; a build with it inside needs no
    // `moduleload` (and would refuse one).
    let mdb_module = ["back_mdb.so", "back_mdb.la"]
        .iter()
        .any(|file| Path::new(MODULE_PATH).join(file).exists());
    if mdb_module {
        conf.push_str(&format!("modulepath {MODULE_PATH}\nmoduleload back_mdb\n"));
    }
    conf.push_str(&format!(
        "\n\
         database mdb\n\
         maxsize 67108864\n\
         suffix \"{base}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PASSWORD}\n\
         directory \"{db}\"\n\
         index objectClass,uid,cn,member eq\n\
         \n\
         # Passwords: anyone may bind with them, nobody reads them.\n\
         access to attrs=userPassword\n\
         \tby anonymous auth\n\
         \tby * none\n\
         \n\
         # Everything else: the reader service account reads it, nobody else.\n\
         access to *\n\
         \tby dn.exact=\"{READER_DN}\" read\n\
         \tby * none\n",
        base = TestDirectory::BASE,
        db = dir.join("db").display(),
    ));
    conf
}

/// Waits until the slapd `child` answers a bind as the administrator on
/// `port`. `Err` with its log when it exited because the port was taken;
/// panics with its log when it exited for another reason or did not answer
/// in time.
fn wait_until_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let started = Instant::now();
    let url = format!("ldap://127.0.0.1:{port}");
    loop {
        if let Some(status) = child.try_wait().expect("slapd's status") {
            let text = fs::read_to_string(log).unwrap_or_default();
            if text.contains("Address already in use") {
                return Err(text);
            }
            panic!("slapd exited ({status}) before answering; its log:\n{text}");
        }
        let listening =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
                .is_ok();
        if listening {
            let whoami = client("ldapwhoami", PROBE_TIMEOUT)
                .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", ROOT_PASSWORD])
                .output()
                .expect("run ldapwhoami");
            if whoami.status.success() {
                return Ok(());
            }
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "slapd did not answer on {url} within {START_TIMEOUT:?}; its log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts slapd in the foreground on `ldap://127.0.0.1:port`, and on
/// `ldaps://127.0.0.1:ldaps_port` when given, logging to `log`. `-d none`
/// keeps it from detaching (so the child is slapd itself) and logs only
/// its banner and errors, such as a port already in use; `-d 0` would log
/// nothing at all. slapd binds every listener before it serves any, so a
/// taken `ldaps://` port ends it as a taken `ldap://` port does.
fn spawn_slapd(conf: &Path, port: u16, ldaps_port: Option<u16>, log: &Path) -> Child {
    let log_file = File::create(log).expect("create slapd's log");
    let log_err = log_file.try_clone().expect("clone slapd's log handle");
    let mut listeners = format!("ldap://127.0.0.1:{port}/");
    if let Some(ldaps_port) = ldaps_port {
        listeners.push_str(&format!(" ldaps://127.0.0.1:{ldaps_port}/"));
    }
    Command::new(tool_path("slapd").expect("slapd, installed above"))
        .arg("-f")
        .arg(conf)
        .args(["-h", &listeners, "-d", "none"])
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("start slapd: {e}"))
}

/// `n` different ports free on 127.0.0.1 a moment ago (all held at once
/// while they are picked, so none is picked twice).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

/// Makes, in `dir` (created), a throwaway CA (EC P-256, self-signed) and a
/// certificate for `127.0.0.1` and `localhost` it signed, with the
/// `openssl` command-line tool; each call under a timeout. The server's key
/// is left as `openssl` writes it (mode 0600, owned by this process's user,
/// who is also slapd's: slapd is not told to change user).
fn make_certificates(dir: &Path) -> TlsFiles {
    fs::create_dir_all(dir).expect("a directory for the certificates");
    let cnf = dir.join("openssl.cnf");
    fs::write(&cnf, OPENSSL_CNF).expect("write openssl.cnf");
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    let (ca_key, csr, serial) = (
        dir.join("ca.key"),
        dir.join("server.csr"),
        dir.join("ca.srl"),
    );
    let p256: [&dyn AsRef<OsStr>; 5] = [
        &"genpkey",
        &"-algorithm",
        &"EC",
        &"-pkeyopt",
        &"ec_paramgen_curve:P-256",
    ];
    openssl(&[&p256[..], &[&"-out", &ca_key]].concat());
    openssl(&[
        &"req",
        &"-config",
        &cnf,
        &"-new",
        &"-x509",
        &"-key",
        &ca_key,
        &"-subj",
        &"/CN=Berth test directory CA",
        &"-days",
        &CERT_DAYS,
        &"-extensions",
        &"ca",
        &"-out",
        &files.ca,
    ]);
    openssl(&[&p256[..], &[&"-out", &files.key]].concat());
    openssl(&[
        &"req",
        &"-config",
        &cnf,
        &"-new",
        &"-key",
        &files.key,
        &"-subj",
        &"/CN=127.0.0.1",
        &"-out",
        &csr,
    ]);
    openssl(&[
        &"x509",
        &"-req",
        &"-in",
        &csr,
        &"-CA",
        &files.ca,
        &"-CAkey",
        &ca_key,
        &"-CAserial",
        &serial,
        &"-CAcreateserial",
        &"-days",
        &CERT_DAYS,
        &"-extfile",
        &cnf,
        &"-extensions",
        &"server",
        &"-out",
        &files.cert,
    ]);
    files
}

/// Runs `openssl` with `args` under coreutils' `timeout`; panics with its
/// output unless it succeeds.
fn openssl(args: &[&dyn AsRef<OsStr>]) {
    let path = tool_path("openssl")
        .expect("the openssl command-line tool, which makes the test directory's certificates");
    let out = Command::new(tool_path("timeout").expect("coreutils' timeout"))
        .args(["-k", "5", &format!("{}", TOOL_TIMEOUT.as_secs())])
        .arg(path)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run openssl: {e}"));
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "openssl {} failed ({}):\n{}{}",
        args.join(" "),
        describe(&out.status, TOOL_TIMEOUT),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// An ldap-utils tool that reads no configuration file or environment
/// (`LDAPNOINIT`), so the machine's `ldap.conf` cannot change it, run under
/// coreutils' `timeout`: killed after `limit` (exit status 124), since its
/// own `nettimeout` bounds only connecting, not waiting for an answer.
fn client(tool: &str, limit: Duration) -> Command {
    let mut command = timed_tool(tool, limit);
    command.env("LDAPNOINIT", "1").args(["-o", "nettimeout=10"]);
    command
}

/// An ldap-utils tool for TLS, trusting only the CA in `ca_file`
/// (`LDAPTLS_CACERT`) and requiring a certificate it verifies
/// (`LDAPTLS_REQCERT=demand`), under `timeout` as [`client`] is.
/// `LDAPNOINIT` would make libldap ignore those variables too, so this
/// one reads the machine's `ldap.conf`; the variables override its TLS
/// settings, and every call names its URL (`-H`) and simple bind (`-x`).
fn tls_client(tool: &str, limit: Duration, ca_file: &Path) -> Command {
    let mut command = timed_tool(tool, limit);
    command
        .env_remove("LDAPNOINIT")
        .env("LDAPTLS_CACERT", ca_file)
        .env("LDAPTLS_REQCERT", "demand")
        .args(["-o", "nettimeout=10"]);
    command
}

/// `tool` under coreutils' `timeout`: killed after `limit` (exit status
/// 124), and 5 seconds later with SIGKILL if still there.
fn timed_tool(tool: &str, limit: Duration) -> Command {
    let path = tool_path(tool).unwrap_or_else(|| panic!("{tool}, installed above"));
    let timeout = tool_path("timeout").expect("coreutils' timeout");
    let mut command = Command::new(timeout);
    command
        .args(["-k", "5", &format!("{}", limit.as_secs())])
        .arg(path);
    command
}

/// A client tool's exit status in words, saying so when `timeout` killed it.
fn describe(status: &ExitStatus, limit: Duration) -> String {
    match status.code() {
        Some(124) | Some(137) => format!("{status}: no answer within {limit:?}"),
        _ => status.to_string(),
    }
}

/// Where `tool` is: on `PATH`, or in `/usr/sbin` (where slapd is, and
/// which a test's `PATH` may lack) or `/usr/bin`.
fn tool_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Whether slapd, the schema files and the client tools are all there.
fn installed() -> bool {
    tool_path("slapd").is_some()
        && Path::new(SCHEMA_DIR).join("inetorgperson.schema").is_file()
        && CLIENT_TOOLS.iter().all(|tool| tool_path(tool).is_some())
}

/// Installs `slapd` and `ldap-utils` with apt unless they are there: once
/// per process, and under a file lock so that parallel test processes
/// install them once. Panics with apt's output when it fails.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if installed() {
            return;
        }
        // Checked again under the lock: another process may have installed
        // them while this one waited. apt waits for dpkg's own lock too.
        let script = "\
            if [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null \
               && command -v ldapwhoami >/dev/null; then exit 0; fi
            apt-get update -qq -o DPkg::Lock::Timeout=600 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                 -o DPkg::Lock::Timeout=600 slapd ldap-utils";
        let out = Command::new("flock")
            .args(["-w", "900", INSTALL_LOCK, "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("run flock to install slapd and ldap-utils (is util-linux there?): {e}")
            });
        assert!(
            out.status.success() && installed(),
            "could not install slapd and ldap-utils for the LDAP test directory \
             (`apt-get install slapd ldap-utils` as root, {}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    });
}

/// One attribute of an LDIF record: `name: value` when the value is plainly
/// safe, else `name:: BASE64` (any byte, leading space or colon, and
/// characters that mean something in filters or DNs, such as `*` and `(`,
/// survive it unchanged).
fn ldif_line(name: &str, value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -_.,=@'\\".contains(c))
        && !value.starts_with(' ')
        && !value.ends_with(' ');
    if plain {
        format!("{name}: {value}\n")
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        format!("{name}:: {encoded}\n")
    }
}

/// An LDIF change record replacing every value of `attribute` in `dn`.
fn modify_replace(dn: &str, attribute: &str, values: &[&str]) -> String {
    let mut ldif = ldif_line("dn", dn);
    ldif.push_str("changetype: modify\n");
    ldif.push_str(&format!("replace: {attribute}\n"));
    for value in values {
        ldif.push_str(&ldif_line(attribute, value));
    }
    ldif.push_str("-\n");
    ldif
}

/// An attribute value escaped for a DN (RFC 4514): `\` before the special
/// characters, a leading `#` or space and a trailing space; NUL as `\00`.
fn escape_dn_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut escaped = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '#' if i == 0 => escaped.push_str("\\#"),
            ' ' if i == 0 || i == last => escaped.push_str("\\ "),
            '\0' => escaped.push_str("\\00"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Output;

    /// Runs an ldap-utils tool against the directory with these arguments.
    fn run(tool: &str, args: &[&str]) -> Output {
        client(tool, TOOL_TIMEOUT)
            .args(args)
            .output()
            .expect("run an LDAP tool")
    }

    fn stdout(out: &Output) -> String {
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DNs that the reader finds under `base` with `filter`.
    fn reader_search(dir: &TestDirectory, base: &str, filter: &str) -> Vec<String> {
        let (url, dn, pw) = (dir.url(), dir.bind_dn(), dir.bind_password());
        let out = run(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                &url,
                "-D",
                &dn,
                "-w",
                &pw,
                "-b",
                base,
                filter,
                "dn",
            ],
        );
        assert!(out.status.success(), "ldapsearch: {out:?}");
        stdout(&out)
            .lines()
            .filter_map(|l| l.strip_prefix("dn: "))
            .map(str::to_string)
            .collect()
    }

    /// Whether `dn` binds with `password`.
    fn binds(dir: &TestDirectory, dn: &str, password: &str) -> bool {
        let url = dir.url();
        let out = run("ldapwhoami", &["-x", "-H", &url, "-D", dn, "-w", password]);
        eprintln!(
            "ldapwhoami -D {dn}: {} {}{}",
            out.status,
            stdout(&out).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        out.status.success()
    }

    #[test]
    fn ldap_directory_serves_users_groups_and_binds() {
        let started = Instant::now();
        let dir = TestDirectory::start();
        eprintln!(
            "slapd up at {} in {:?} (with the base entries)",
            dir.url(),
            started.elapsed()
        );
        assert!(dir.url().starts_with("ldap://127.0.0.1:"));

        let password = "s3cret: (with) *stars* ";
        dir.add_user("alice", password, "Alice *(Admin)* \\ Ünïcode");
        dir.add_user("bob.b_2-x", "bob-password", "Bob");
        dir.add_group("admins", &["alice"]);
        dir.add_group("nobody", &[]);
        let alice = dir.user_dn("alice");
        assert_eq!(alice, "uid=alice,ou=people,dc=berth,dc=test");

        // The reader finds the user, and the name came through intact.
        let found = reader_search(&dir, &dir.user_base(), "(uid=alice)");
        eprintln!("reader finds (uid=alice): {found:?}");
        assert_eq!(found, [alice.as_str()]);
        let (url, rdn, rpw, ub) = (
            dir.url(),
            dir.bind_dn(),
            dir.bind_password(),
            dir.user_base(),
        );
        let entry = run(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-H",
                &url,
                "-D",
                &rdn,
                "-w",
                &rpw,
                "-b",
                &ub,
                "(uid=alice)",
                "*",
                "userPassword",
            ],
        );
        let entry = stdout(&entry);
        eprintln!("the reader's view of alice:\n{entry}");
        let cn_b64 = base64::engine::general_purpose::STANDARD.encode("Alice *(Admin)* \\ Ünïcode");
        assert!(entry.contains(&format!("cn:: {cn_b64}")), "{entry}");
        assert!(
            !entry.contains("userPassword"),
            "the reader reads passwords:\n{entry}"
        );
        assert_eq!(
            reader_search(&dir, &dir.user_base(), "(uid=bob.b_2-x)"),
            [dir.user_dn("bob.b_2-x")]
        );

        // Groups by member, as a sign-in looks them up.
        let groups = reader_search(&dir, &dir.group_base(), &format!("(member={alice})"));
        assert_eq!(groups, ["cn=admins,ou=groups,dc=berth,dc=test"]);

        // Binds: the right password, not a wrong one; an anonymous search
        // and a user's search find nothing.
        assert!(binds(&dir, &alice, password));
        assert!(!binds(&dir, &alice, "wrong"));
        assert!(!binds(&dir, &dir.user_dn("nobody"), password));
        let anonymous = run(
            "ldapsearch",
            &["-x", "-LLL", "-H", &url, "-b", &ub, "(uid=*)", "dn"],
        );
        assert!(!stdout(&anonymous).contains("dn:"), "{anonymous:?}");
        let as_alice = run(
            "ldapsearch",
            &[
                "-x", "-LLL", "-H", &url, "-D", &alice, "-w", password, "-b", &ub, "(uid=*)", "dn",
            ],
        );
        assert!(!stdout(&as_alice).contains("dn:"), "{as_alice:?}");

        // Changes: a new password, new members, a deleted user.
        dir.set_password("alice", "new-password");
        assert!(!binds(&dir, &alice, password));
        assert!(binds(&dir, &alice, "new-password"));
        dir.set_members("admins", &["bob.b_2-x"]);
        assert!(reader_search(&dir, &dir.group_base(), &format!("(member={alice})")).is_empty());
        dir.set_members("admins", &[]);
        assert_eq!(
            reader_search(
                &dir,
                &dir.group_base(),
                &format!("(member={})", dir.bind_dn())
            ),
            [
                "cn=admins,ou=groups,dc=berth,dc=test",
                "cn=nobody,ou=groups,dc=berth,dc=test"
            ]
        );
        dir.delete_user("alice");
        assert!(reader_search(&dir, &dir.user_base(), "(uid=alice)").is_empty());
        assert!(!binds(&dir, &alice, "new-password"));
    }

    #[test]
    fn ldap_directories_run_side_by_side() {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(TestDirectory::start);
            let b = s.spawn(TestDirectory::start);
            (a.join().expect("first"), b.join().expect("second"))
        });
        assert_ne!(a.url(), b.url());
        assert_eq!(a.ldaps_url(), None, "start() is plain LDAP");
        a.add_user("carol", "pw", "Carol");
        assert_eq!(reader_search(&a, &a.user_base(), "(uid=carol)").len(), 1);
        assert!(reader_search(&b, &b.user_base(), "(uid=carol)").is_empty());
        let url = a.url();
        drop(a);
        let port = url.rsplit(':').next().expect("a port");
        assert!(
            TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
            "slapd still listens after drop"
        );
    }

    #[test]
    fn ldap_slapd_on_a_taken_port_is_retried_not_fatal() {
        ensure_installed();
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(dir.path().join("db")).expect("db");
        let conf = dir.path().join("slapd.conf");
        fs::write(&conf, slapd_conf(dir.path(), None)).expect("slapd.conf");
        let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = taken.local_addr().expect("its address").port();
        let log = dir.path().join("slapd.log");
        let mut child = spawn_slapd(&conf, port, None, &log);
        let log_text = wait_until_ready(&mut child, port, &log)
            .expect_err("slapd cannot bind a port that is taken");
        eprintln!("slapd on a taken port logged:\n{log_text}");
        assert!(log_text.contains("Address already in use"), "{log_text}");

        // A taken ldaps:// port (the ldap:// one free) is the same.
        let tls = make_certificates(&dir.path().join("tls"));
        fs::write(&conf, slapd_conf(dir.path(), Some(&tls))).expect("slapd.conf with TLS");
        let free = free_ports(1)[0];
        let mut child = spawn_slapd(&conf, free, Some(port), &log);
        let log_text = wait_until_ready(&mut child, free, &log)
            .expect_err("slapd cannot bind an ldaps:// port that is taken");
        eprintln!("slapd on a taken ldaps:// port logged:\n{log_text}");
        assert!(log_text.contains("Address already in use"), "{log_text}");
    }

    /// `ldapwhoami` as the administrator over TLS, trusting only `ca`,
    /// with `extra` options: its output, logged.
    fn tls_whoami(ca: &Path, url: &str, extra: &[&str]) -> Output {
        let out = tls_client("ldapwhoami", TOOL_TIMEOUT, ca)
            .args(["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PASSWORD])
            .args(extra)
            .output()
            .expect("run ldapwhoami");
        eprintln!(
            "ldapwhoami -H {url} {extra:?} trusting {}: {} {}{}",
            ca.display(),
            describe(&out.status, TOOL_TIMEOUT),
            stdout(&out).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        out
    }

    #[test]
    fn ldap_tls_directory_speaks_starttls_and_ldaps() {
        let started = Instant::now();
        let dir = TestDirectory::start_tls();
        let ldaps = dir
            .ldaps_url()
            .expect("a TLS directory has an ldaps:// URL");
        eprintln!(
            "slapd with TLS up at {} and {ldaps} in {:?} (certificates made, base entries loaded)",
            dir.url(),
            started.elapsed()
        );
        assert!(ldaps.starts_with("ldaps://127.0.0.1:"), "{ldaps}");
        let ldaps_port = ldaps.rsplit(':').next().expect("a port");
        let ldap_port = dir.url().rsplit(':').next().expect("a port").to_string();
        assert_ne!(ldaps_port, ldap_port);
        let ca = dir.ca_file();
        let pem = fs::read_to_string(&ca).expect("the CA file");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

        // StartTLS required (-ZZ) on the ldap:// URL, and ldaps://, each
        // verifying the certificate against the CA.
        let me = format!("dn:{ROOT_DN}");
        let starttls = tls_whoami(&ca, &dir.url(), &["-ZZ"]);
        assert!(starttls.status.success(), "{starttls:?}");
        assert_eq!(stdout(&starttls).trim(), me);
        let over_ldaps = tls_whoami(&ca, &ldaps, &[]);
        assert!(over_ldaps.status.success(), "{over_ldaps:?}");
        assert_eq!(stdout(&over_ldaps).trim(), me);

        // A CA that did not sign the certificate is refused on both.
        let elsewhere = tempfile::tempdir().expect("a temporary directory");
        let other_ca = make_certificates(elsewhere.path()).ca;
        assert!(!tls_whoami(&other_ca, &dir.url(), &["-ZZ"]).status.success());
        assert!(!tls_whoami(&other_ca, &ldaps, &[]).status.success());

        // The fixture's own plain calls still work, and their users bind
        // over TLS.
        dir.add_user("erin", "erin-password", "Erin");
        let erin = dir.user_dn("erin");
        assert_eq!(
            reader_search(&dir, &dir.user_base(), "(uid=erin)"),
            [erin.as_str()]
        );
        let as_erin = tls_client("ldapwhoami", TOOL_TIMEOUT, &ca)
            .args(["-x", "-H", &ldaps, "-D", &erin, "-w", "erin-password"])
            .output()
            .expect("run ldapwhoami");
        assert!(as_erin.status.success(), "{as_erin:?}");
        assert_eq!(stdout(&as_erin).trim(), format!("dn:{erin}"));

        drop(dir);
        for port in [ldap_port.as_str(), ldaps_port] {
            assert!(
                TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
                "slapd still listens on {port} after drop"
            );
        }
    }

    #[test]
    fn ldap_values_are_escaped() {
        assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_dn_value("#x "), "\\#x\\ ");
        assert_eq!(escape_dn_value(" "), "\\ ");
        assert_eq!(ldif_line("uid", "alice"), "uid: alice\n");
        assert_eq!(ldif_line("cn", "a*(b)"), "cn:: YSooYik=\n");
        assert_eq!(ldif_line("cn", ":x"), "cn:: Ong=\n");
    }
}
