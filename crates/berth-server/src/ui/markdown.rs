//! READMEs to HTML: Markdown rendered by pulldown-cmark, then every tag and
//! attribute passed through ammonia's allow-list, so that no script, event
//! handler, `javascript:` link, frame, form or style reaches a page.
//! Relative links and images are resolved against the crate's repository
//! URL when it has an http(s) one, and dropped otherwise.
//!
//! Pure functions: no I/O. The output is the only HTML the UI emits
//! unescaped.

use std::borrow::Cow;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

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
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::Custom(Box::new(RawHtmlUrls(base))))
        .link_rel(Some("nofollow noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&html)
        .to_string()
}

/// Relative URLs in raw HTML (which the Markdown pass does not see):
/// fragments kept, the rest resolved as files of the repository, or
/// dropped without one.
struct RawHtmlUrls(Option<Base>);

impl<'a> ammonia::UrlRelativeEvaluate<'a> for RawHtmlUrls {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if url.starts_with('#') {
            return Some(Cow::Borrowed(url));
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
        assert!(html.contains("href=\"#top\""), "{html}");
        let html = render(md, None);
        assert!(
            !html.contains("docs/guide.md") && !html.contains("logo.png"),
            "{html}"
        );
    }
}
