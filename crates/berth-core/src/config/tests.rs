//! The typed values of the configuration: each is decoded once when the
//! file (or a variable) is read, a bad one refused in the words that name
//! its key, and each prints back as the file spells it.

use std::net::SocketAddr;

use crate::config::{Config, ForwardedHeader, LogFormat, Overrides, TlsFiles};

/// `toml` loaded as `berth config check` loads a file; the error with the
/// file's path as `[FILE]`.
pub(super) fn load(toml: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("berth.toml");
    std::fs::write(&file, toml).unwrap();
    Config::load_file_only(&file)
        .map_err(|e| e.to_string().replace(&file.display().to_string(), "[FILE]"))
}

fn refused(toml: &str) -> String {
    load(toml).unwrap_err()
}

#[test]
fn values_are_decoded_into_their_types() {
    let c = load(
        "listen = \"[::1]:7979\"\npublic_url = \"https://crates.example.internal/\"\n\
         trusted_proxies = [\"10.0.0.5\", \"10.1.2.3/8\", \"fd00::/64\"]\n\
         forwarded_header = \"forwarded\"\n\
         [limits]\nconnections_per_ip_exempt = [\"127.0.0.4/32\"]\n\
         [log]\nformat = \"json\"\nlevel = \"berth=debug\"\n\
         [tls]\ncert_file = \"/etc/berth/cert.pem\"\nkey_file = \"/etc/berth/key.pem\"\n\
         [[registries]]\nname = \"corp\"\nallowed_cidrs = [\"192.0.2.7\", \"fd00::/8\"]\n",
    )
    .unwrap();
    assert_eq!(c.listen, "[::1]:7979".parse::<SocketAddr>().unwrap());
    assert_eq!(c.public_url, "https://crates.example.internal");
    let text = |nets: &[ipnet::IpNet]| nets.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    // A bare address is its own /32 or /128; host bits are cleared.
    assert_eq!(
        text(&c.trusted_proxies),
        ["10.0.0.5/32", "10.0.0.0/8", "fd00::/64"]
    );
    assert_eq!(text(&c.limits.connections_per_ip_exempt), ["127.0.0.4/32"]);
    assert_eq!(
        text(&c.registries[0].allowed_cidrs),
        ["192.0.2.7/32", "fd00::/8"]
    );
    assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "berth=debug");
    assert_eq!(
        c.tls.files,
        Some(TlsFiles {
            cert_file: "/etc/berth/cert.pem".into(),
            key_file: "/etc/berth/key.pem".into(),
        })
    );

    let c = load("[tls]\ncert_file = \"\"\nkey_file = \"\"\n").unwrap();
    assert_eq!(c.tls.files, None, "empty names are no files");
    assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.public_url, "http://127.0.0.1:7878");
}

#[test]
fn a_bad_value_is_refused_in_words_that_name_its_key() {
    let cidr = "is not an address or a CIDR range (such as 10.0.0.5/32 or fd00::/64)";
    for (toml, error) in [
        (
            "listen = \"localhost:80\"\n",
            "listen address `localhost:80` is not an IP:PORT socket address".to_string(),
        ),
        (
            "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
            format!("trusted_proxies: `10.0.0.0/33` {cidr}"),
        ),
        (
            "[limits]\nconnections_per_ip_exempt = [\"nope\"]\n",
            format!("limits.connections_per_ip_exempt: `nope` {cidr}"),
        ),
        (
            "[[registries]]\nname = \"corp\"\nallowed_cidrs = [\"10.0.0.0/33\"]\n",
            format!("registry `corp`: allowed_cidrs: `10.0.0.0/33` {cidr}"),
        ),
        (
            "forwarded_header = \"x-real-ip\"\n",
            "forwarded_header `x-real-ip` must be `x-forwarded-for` or `forwarded`".into(),
        ),
        (
            "[log]\nformat = \"xml\"\n",
            "log.format `xml` must be `text` or `json`".into(),
        ),
        (
            "[tls]\ncert_file = \"/x.pem\"\n",
            "tls.cert_file and tls.key_file go together: give both to serve HTTPS, or neither"
                .into(),
        ),
        (
            "[tls]\ncert_file = \"\"\nkey_file = \"/x.pem\"\n",
            "tls.cert_file and tls.key_file go together: give both to serve HTTPS, or neither"
                .into(),
        ),
        (
            "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\nreload_secs = 0\n",
            "tls.reload_secs is 0; it must be between 1 and 86400".into(),
        ),
        (
            "listen = \"0.0.0.0:7878\"\n",
            "listening on 0.0.0.0:7878 needs public_url (--public-url): the URL cargo uses to \
             reach this server, e.g. https://crates.example.internal"
                .into(),
        ),
        // A bad name is named before the addresses of the entry.
        (
            "[[registries]]\nname = \"a/b\"\nallowed_cidrs = [\"x\"]\n",
            "registry name `a/b` must be 1-64 ASCII letters, digits, `-` or `_`".into(),
        ),
    ] {
        assert_eq!(
            refused(toml),
            format!("configuration error: {error}"),
            "{toml}"
        );
    }
}

#[test]
fn a_value_of_the_wrong_type_is_named_by_its_key_and_file() {
    for (toml, error) in [
        (
            "listen = 5\n",
            "`listen` in [FILE]: invalid type: found signed int `5`, expected a string",
        ),
        (
            "trusted_proxies = [1]\n",
            "`trusted_proxies[0]` in [FILE]: invalid type: found signed int `1`, expected a \
             string",
        ),
        (
            "[[registries]]\nname = \"corp\"\nallowed_cidrs = [true]\n",
            "`registries[0].allowed_cidrs[0]` in [FILE]: invalid type: found bool true, \
             expected a string",
        ),
        (
            "[log]\nformat = 3\n",
            "`log.format` in [FILE]: invalid type: found signed int `3`, expected a string",
        ),
        (
            "[tls]\ncert_fil = \"/x.pem\"\n",
            "unknown key `tls.cert_fil` in [FILE]; the keys allowed there are `cert_file`, \
             `key_file`, `reload_secs`",
        ),
    ] {
        assert_eq!(
            refused(toml),
            format!("configuration error: {error}"),
            "{toml}"
        );
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment's test jail fixes the closure's type
fn variables_and_flags_are_decoded_as_the_file_is() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("BERTH_LISTEN", "nope");
        let err = Config::load(None, &Overrides::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: listen address `nope` is not an IP:PORT socket address"
        );
        jail.set_env("BERTH_LISTEN", "[::1]:80");
        jail.set_env("BERTH_TRUSTED_PROXIES", "[\"10.0.0.0/40\"]");
        let err = Config::load(None, &Overrides::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: trusted_proxies: `10.0.0.0/40` is not an address or a CIDR \
             range (such as 10.0.0.5/32 or fd00::/64)"
        );
        jail.set_env("BERTH_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
        jail.set_env("BERTH_TLS_KEY_FILE", "/k.pem");
        let err = Config::load(None, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");
        jail.set_env("BERTH_TLS_CERT_FILE", "/c.pem");
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.public_url, "https://[::1]:80");
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8".parse().unwrap()]);
        // A flag wins over the variable.
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Overrides::default()
        };
        let c = Config::load(None, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9100".parse::<SocketAddr>().unwrap());
        Ok(())
    });
}

#[test]
fn typed_values_print_as_the_file_spells_them_and_read_back() {
    let c = load(
        "listen = \"127.0.0.1:9443\"\ntrusted_proxies = [\"10.0.0.5/32\"]\n\
         forwarded_header = \"forwarded\"\n\
         [limits]\nconnections_per_ip_exempt = [\"10.1.0.0/16\"]\n\
         [log]\nformat = \"json\"\n\
         [tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\nreload_secs = 30\n\
         [[registries]]\nname = \"main\"\nallowed_cidrs = [\"::1/128\"]\n",
    )
    .unwrap();
    let text = c.masked_toml().unwrap();
    for line in [
        "listen = \"127.0.0.1:9443\"\n",
        "public_url = \"https://127.0.0.1:9443\"\n",
        "trusted_proxies = [\"10.0.0.5/32\"]\n",
        "forwarded_header = \"forwarded\"\n",
        "connections_per_ip_exempt = [\"10.1.0.0/16\"]\n",
        "format = \"json\"\n",
        "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\nreload_secs = 30\n",
        "allowed_cidrs = [\"::1/128\"]\n",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let back: Config = toml::from_str(&text).unwrap();
    assert_eq!(back, c);
    // No TLS prints as the empty names it is read from.
    let text = load("").unwrap().masked_toml().unwrap();
    assert!(
        text.contains("[tls]\ncert_file = \"\"\nkey_file = \"\"\nreload_secs = 10\n"),
        "{text}"
    );
}

#[test]
fn sign_in_sections_are_checked() {
    let c = load(
        "[auth]\npassword_login = false\n[auth.oidc]\nissuer = \"https://idp.example.internal/realms/eng\"\n\
         client_id = \"berth\"\nclient_secret_env = \"BERTH_OIDC_CLIENT_SECRET\"\n\
         admin_groups = [\"registry-admins\"]\nteams = { \"platform-eng\" = \"platform\" }\n",
    )
    .unwrap();
    let oidc = c.auth.oidc.as_ref().unwrap();
    assert_eq!(oidc.login_claim, "preferred_username");
    assert_eq!(oidc.groups_claim, "groups");
    assert!(!oidc.link_existing_users);
    assert!(
        !c.auth.password_form(),
        "no password field without passwords or a directory"
    );
    assert_eq!(c.auth.secret_variables(), ["BERTH_OIDC_CLIENT_SECRET"]);

    let oidc = |issuer: &str| {
        format!(
            "[auth.oidc]\nissuer = \"{issuer}\"\nclient_id = \"berth\"\nclient_secret_env = \"S\"\n"
        )
    };
    assert!(load(&oidc("http://127.0.0.1:9000")).is_ok());
    let e = refused(&oidc("http://idp.example.internal"));
    assert!(e.contains("auth.oidc.issuer") && e.contains("https"), "{e}");
    let e = refused(&format!(
        "{}teams = {{ \"g\" = \"bad team\" }}\n",
        oidc("https://i")
    ));
    assert!(
        e.contains("auth.oidc.teams") && e.contains("bad team"),
        "{e}"
    );

    let ldap = |url: &str, extra: &str| {
        format!(
            "[auth.ldap]\nurl = \"{url}\"\nbind_dn = \"cn=reader,dc=x\"\n\
             bind_password_env = \"LDAP_PW\"\nuser_base = \"ou=people,dc=x\"\n{extra}"
        )
    };
    let c = load(&ldap("ldap://directory.example.internal", "")).unwrap();
    let l = c.auth.ldap.as_ref().unwrap();
    assert!(l.starttls && c.auth.password_form());
    assert!(l.user_filter.contains("{login}"));
    assert!(load(&ldap("ldaps://directory.example.internal", "")).is_ok());
    assert!(load(&ldap("ldap://127.0.0.1:3890", "starttls = false\n")).is_ok());
    let e = refused(&ldap(
        "ldap://directory.example.internal",
        "starttls = false\n",
    ));
    assert!(e.contains("in the clear"), "{e}");
    let e = refused(&ldap("http://directory.example.internal", ""));
    assert!(e.contains("neither ldap nor ldaps"), "{e}");
    let e = refused(&ldap("ldaps://d", "user_filter = \"(uid=alice)\"\n"));
    assert!(e.contains("{login}"), "{e}");
}
