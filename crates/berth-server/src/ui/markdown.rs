//! READMEs to HTML: Markdown rendered by pulldown-cmark, then every tag and
//! attribute passed through ammonia's allow-list, so that no script, event
//! handler, `javascript:` link, frame, form or style reaches a page.
//! Relative links and images are resolved against the crate's repository
//! URL when it has an http(s) one, and dropped otherwise.
//!
//! Rust code blocks (fenced as `rust`, `rs` or with rustdoc's attributes
//! such as `rust,no_run`) are highlighted here, server-side, with rustc's
//! own lexer (`ra-ap-rustc_lexer`): spans of a few allowed classes, no
//! script. Task lists get ballot boxes (no form inputs reach a page), and
//! footnotes keep working links: ids are prefixed `user-content-` (so a
//! README never names one of the page's own ids) and fragment links follow.
//!
//! Pure functions: no I/O. The output is the only HTML the UI emits
//! unescaped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};

/// The prefix of every id a README's HTML keeps.
const ID_PREFIX: &str = "user-content-";

/// The classes a README's HTML may carry (everything else is dropped).
fn allowed_classes() -> HashMap<&'static str, HashSet<&'static str>> {
    let mut classes = HashMap::new();
    classes.insert(
        "span",
        HashSet::from([
            "hl-kw", "hl-str", "hl-num", "hl-com", "hl-life", "hl-mac", "hl-ty", "hl-attr",
            "task-box",
        ]),
    );
    classes.insert("li", HashSet::from(["task"]));
    classes.insert(
        "sup",
        HashSet::from(["footnote-reference", "footnote-definition-label"]),
    );
    classes.insert("div", HashSet::from(["footnote-definition"]));
    classes
}

/// Renders `markdown` to sanitized HTML; `repository` is the crate's
/// repository URL, the base of relative links.
pub(crate) fn render(markdown: &str, repository: Option<&str>) -> String {
    let base = repository.and_then(Base::new);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: resolve(dest_url, base.as_ref(), Kind::Link),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: resolve(dest_url, base.as_ref(), Kind::Image),
            title,
            id,
        }),
        other => other,
    });
    let events = decorate(events);
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::Custom(Box::new(RawHtmlUrls(base))))
        .link_rel(Some("nofollow noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .add_tag_attributes("div", ["id"])
        .id_prefix(Some(ID_PREFIX))
        .allowed_classes(allowed_classes())
        .clean(&html)
        .to_string()
}

/// Task-list items marked, Rust code blocks highlighted.
fn decorate<'a>(events: impl Iterator<Item = Event<'a>>) -> Vec<Event<'a>> {
    let mut out: Vec<Event<'a>> = Vec::new();
    let mut rust: Option<String> = None;
    for event in events {
        match event {
            Event::TaskListMarker(done) => {
                // The item just opened is a task.
                if matches!(out.last(), Some(Event::Start(Tag::Item))) {
                    out.pop();
                    out.push(Event::Html(CowStr::from("<li class=\"task\">")));
                }
                let (mark, label) = if done {
                    ("☑", "done")
                } else {
                    ("☐", "to do")
                };
                out.push(Event::InlineHtml(CowStr::from(format!(
                    "<span class=\"task-box\" title=\"{label}\">{mark}</span> "
                ))));
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(ref lang))) if is_rust(lang) => {
                rust = Some(String::new());
            }
            Event::Text(ref t) if rust.is_some() => {
                if let Some(code) = rust.as_mut() {
                    code.push_str(t);
                }
            }
            Event::End(TagEnd::CodeBlock) if rust.is_some() => {
                let code = rust.take().unwrap_or_default();
                out.push(Event::Html(CowStr::from(format!(
                    "<pre><code>{}</code></pre>\n",
                    highlight_rust(&code)
                ))));
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether a fence's info string means Rust (rustdoc's attributes too).
fn is_rust(info: &str) -> bool {
    let first = info.split([',', ' ']).next().unwrap_or_default().trim();
    matches!(
        first,
        "rust"
            | "rs"
            | "no_run"
            | "ignore"
            | "should_panic"
            | "compile_fail"
            | "edition2018"
            | "edition2021"
            | "edition2024"
    )
}

/// Rust's keywords, strict and reserved, that a README's code shows.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "yield",
];

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Rust source as escaped HTML with `hl-*` spans, token by token as rustc
/// lexes it (a token it cannot classify is left plain).
pub(crate) fn highlight_rust(code: &str) -> String {
    use ra_ap_rustc_lexer::{tokenize, FrontmatterAllowed, LiteralKind, TokenKind};
    let tokens: Vec<_> = tokenize(code, FrontmatterAllowed::No).collect();
    let mut out = String::with_capacity(code.len() * 2);
    let mut at = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let len = tokens[i].len as usize;
        let end = (at + len).min(code.len());
        let text = code.get(at..end).unwrap_or_default();
        // The next token that is not whitespace, for `name!` and `#[`.
        let next = tokens[i + 1..]
            .iter()
            .find(|t| t.kind != TokenKind::Whitespace)
            .map(|t| t.kind);
        let mut span_end = end;
        let mut skip = 0;
        let class = match tokens[i].kind {
            TokenKind::LineComment { .. } | TokenKind::BlockComment { .. } => Some("hl-com"),
            TokenKind::Literal { kind, .. } => match kind {
                LiteralKind::Int { .. } | LiteralKind::Float { .. } => Some("hl-num"),
                _ => Some("hl-str"),
            },
            TokenKind::Lifetime { .. } | TokenKind::RawLifetime => Some("hl-life"),
            TokenKind::Ident | TokenKind::RawIdent => {
                if KEYWORDS.contains(&text) {
                    Some("hl-kw")
                } else if next == Some(TokenKind::Bang)
                    && tokens.get(i + 1).is_some_and(|t| t.kind == TokenKind::Bang)
                {
                    // `name!`: the macro and its bang.
                    span_end = (end + 1).min(code.len());
                    skip = 1;
                    Some("hl-mac")
                } else if text.starts_with(|c: char| c.is_ascii_uppercase()) {
                    Some("hl-ty")
                } else {
                    None
                }
            }
            TokenKind::Pound if matches!(next, Some(TokenKind::OpenBracket | TokenKind::Bang)) => {
                Some("hl-attr")
            }
            _ => None,
        };
        let text = code.get(at..span_end).unwrap_or_default();
        match class {
            Some(c) => {
                out.push_str("<span class=\"");
                out.push_str(c);
                out.push_str("\">");
                escape(text, &mut out);
                out.push_str("</span>");
            }
            None => escape(text, &mut out),
        }
        at = span_end;
        i += 1 + skip;
    }
    if at < code.len() {
        escape(&code[at..], &mut out);
    }
    out
}

/// Relative URLs in raw HTML (which the Markdown pass does not see):
/// fragments kept, the rest resolved as files of the repository, or
/// dropped without one.
struct RawHtmlUrls(Option<Base>);

impl<'a> ammonia::UrlRelativeEvaluate<'a> for RawHtmlUrls {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if let Some(fragment) = url.strip_prefix('#') {
            // Ids are prefixed (see `ID_PREFIX`): fragments follow them.
            if fragment.is_empty() || fragment.starts_with(ID_PREFIX) {
                return Some(Cow::Borrowed(url));
            }
            return Some(Cow::Owned(format!("#{ID_PREFIX}{fragment}")));
        }
        self.0
            .as_ref()
            .map(|b| Cow::Owned(b.join(url, Kind::Image)))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Link,
    Image,
}

/// A repository URL that relative paths resolve against.
struct Base {
    url: String,
    /// Whether the host lays files out as `/blob/HEAD/` (pages) and
    /// `/raw/HEAD/` (bytes).
    forge: bool,
}

impl Base {
    fn new(url: &str) -> Option<Base> {
        let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let host = rest.split('/').next()?;
        if host.is_empty() || url.contains(['"', '<', '>', ' ', '\\']) || url.len() > 500 {
            return None;
        }
        let forge = ["github.com", "gitlab.com", "codeberg.org"].contains(&host);
        Some(Base {
            url: url.to_string(),
            forge,
        })
    }

    fn join(&self, path: &str, kind: Kind) -> String {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        match (self.forge, kind) {
            (true, Kind::Link) => format!("{}/blob/HEAD/{path}", self.url),
            (true, Kind::Image) => format!("{}/raw/HEAD/{path}", self.url),
            (false, _) => format!("{}/{path}", self.url),
        }
    }
}

fn is_relative(url: &str) -> bool {
    !url.starts_with('#')
        && !url.starts_with("//")
        && !url
            .split_once(':')
            .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'))
}

fn resolve<'a>(url: CowStr<'a>, base: Option<&Base>, kind: Kind) -> CowStr<'a> {
    if !is_relative(&url) || url.is_empty() {
        return url;
    }
    match base {
        Some(b) => CowStr::from(b.join(&url, kind)),
        // Nothing sensible to point at: ammonia drops the empty value.
        None => CowStr::from(""),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn hostile_readme_loses_everything_active() {
        let md = "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
                  [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">a</a>\n\n\
                  <iframe src=\"https://example.org/\"></iframe>\n\n<div onclick=\"alert(5)\" style=\"x\">d</div>\n\n\
                  <form action=\"/x\"><input name=a></form>\n";
        let html = render(md, None);
        for bad in [
            "<script",
            "onerror",
            "javascript:",
            "<iframe",
            "onclick",
            "style=",
            "<form",
            "<input",
            "alert(1)",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
    }

    #[test]
    fn relative_links_follow_the_repository() {
        let md =
            "[guide](docs/guide.md) ![logo](./logo.png) [abs](https://example.org/a) [top](#top)";
        let html = render(md, Some("https://github.com/o/r.git"));
        assert!(
            html.contains("href=\"https://github.com/o/r/blob/HEAD/docs/guide.md\""),
            "{html}"
        );
        assert!(
            html.contains("src=\"https://github.com/o/r/raw/HEAD/logo.png\""),
            "{html}"
        );
        assert!(html.contains("href=\"https://example.org/a\""), "{html}");
        assert!(html.contains("href=\"#user-content-top\""), "{html}");
        let html = render(md, None);
        assert!(
            !html.contains("docs/guide.md") && !html.contains("logo.png"),
            "{html}"
        );
    }

    #[test]
    fn rust_blocks_task_lists_and_footnotes() {
        let md = "```rust\n// hi\nfn main() { println!(\"<b>\"); let x: Vec<u8> = 1; }\n```\n\n\
                  ```sh\nfn not_rust\n```\n\n- [x] done\n- [ ] open\n\nSee[^n].\n\n[^n]: The note.\n\n> quoted\n";
        let html = render(md, None);
        for want in [
            "<span class=\"hl-com\">// hi</span>",
            "<span class=\"hl-kw\">fn</span>",
            "<span class=\"hl-mac\">println!</span>",
            "<span class=\"hl-str\">\"&lt;b&gt;\"</span>",
            "<span class=\"hl-ty\">Vec</span>",
            "<span class=\"hl-num\">1</span>",
            "<li class=\"task\"><span class=\"task-box\" title=\"done\">☑</span> done",
            "<span class=\"task-box\" title=\"to do\">☐</span> open",
            "<a href=\"#user-content-n\"",
            "<div class=\"footnote-definition\" id=\"user-content-n\">",
            "<blockquote>",
        ] {
            assert!(html.contains(want), "{want} missing: {html}");
        }
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("<code>fn not_rust\n</code>") || html.contains("fn not_rust"),
            "{html}"
        );
        assert!(
            !html.contains("<span class=\"hl-kw\">fn</span> not_rust"),
            "{html}"
        );
        assert!(!html.contains("<input"), "{html}");
    }
}
