//! A cookie-keeping HTTP client that does not follow redirects, for tests
//! of the web UI: each answer is seen as sent, with the security headers
//! every page carries checked.

#![allow(dead_code)]

use std::collections::HashMap;

use berth_testkit::{Reply, Server};
use reqwest::blocking::Client;

/// A cookie-keeping client that does not follow redirects, so that each
/// answer is seen as sent.
pub struct Browser<'a> {
    pub server: &'a Server,
    pub client: Client,
    pub cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a Server) -> Self {
        Browser {
            server,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub fn send(&mut self, req: reqwest::blocking::RequestBuilder) -> Reply {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("Cookie", cookie)
        };
        let response = req.send().expect("request");
        for v in response.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
        Reply::read(response).expect("read the answer")
    }

    /// GETs a page and checks the headers every UI answer carries.
    #[track_caller]
    pub fn get(&mut self, path: &str, status: u16) -> Reply {
        let url = format!("{}{path}", self.server.url);
        let r = self.send(self.client.get(url));
        assert_eq!(r.status, status, "GET {path}: {}", r.text);
        assert_security_headers(path, &r);
        r
    }

    #[track_caller]
    pub fn post(&mut self, path: &str, form: &[(&str, &str)], status: u16) -> Reply {
        let url = format!("{}{path}", self.server.url);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let r = self.send(req);
        assert_eq!(r.status, status, "POST {path}: {}", r.text);
        assert_security_headers(path, &r);
        r
    }

    /// A browser signed in as `login` with the password `LOGIN-password`
    /// ([`users_with_passwords`]).
    #[track_caller]
    pub fn signed_in(server: &'a Server, login: &str) -> Self {
        let mut b = Browser::new(server);
        b.login(login, &format!("{login}-password"));
        b
    }

    #[track_caller]
    pub fn login(&mut self, login: &str, password: &str) {
        let page = self.get("/login", 200);
        let csrf = csrf(&page.text);
        let r = self.post(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
            303,
        );
        assert_eq!(r.header("location"), Some("/account"));
    }
}

#[track_caller]
pub fn assert_security_headers(path: &str, r: &Reply) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "{path}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
}

/// Adds users (`(login, administrator)`), each with the password
/// `LOGIN-password`, in order.
pub fn users_with_passwords(server: &Server, users: &[(&str, bool)]) {
    for (login, admin) in users {
        server.add_user(login, *admin);
        server.set_password(login, &format!("{login}-password"));
    }
}

/// The first CSRF field's value in a page.
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// The members of `team`, as `berth team list --json` lists them (none
/// when there is no such team).
pub fn team_members(server: &Server, team: &str) -> Vec<String> {
    server
        .json_lines(&["team", "list", "--json"])
        .into_iter()
        .find(|t| t["team"] == team)
        .map(|t| {
            t["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
