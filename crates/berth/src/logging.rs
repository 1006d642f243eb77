//! The server's log: text (`name=value`, no colours unless a terminal) or
//! JSON lines on stderr, filtered by `RUST_LOG` or `log.level`.
//!
//! Every request opens a span holding its id and client address, so that
//! every line it logs names both. The fmt layer formats a span's fields
//! when the span opens, on every request, whether or not a line is ever
//! written in it; through the formatting machinery that was about a tenth
//! of a cached index hit's instructions. [`RequestSpan`] writes those two
//! fields (given as text) itself, in the fmt layer's own form, before the
//! fmt layer looks; any other span is formatted as before.

use std::marker::PhantomData;

use berth_core::config::LogFormat;
use berth_core::Config;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::fmt::format::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub(crate) fn init(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    if config.log.format == LogFormat::Json {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        let ours = RequestSpan::for_layer(&fmt, Form::Json);
        registry.with(ours).with(fmt).init();
    } else {
        // `name=value` as the default formatter writes it without colours,
        // the message bare; without its styling calls.
        use tracing_subscriber::field::MakeExt;
        let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
            if field.name() == "message" {
                write!(w, "{value:?}")
            } else {
                write!(w, "{field}={value:?}")
            }
        })
        .delimited(" ");
        let fmt = tracing_subscriber::fmt::layer()
            .fmt_fields(fields)
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        let ours = RequestSpan::for_layer(&fmt, Form::Text);
        registry.with(ours).with(fmt).init();
    }
}

/// How the fmt layer keeps a span's fields.
#[derive(Clone, Copy)]
enum Form {
    /// `request_id=abc client=127.0.0.1`
    Text,
    /// `{"request_id":"abc","client":"127.0.0.1"}`
    Json,
}

/// Formats the request span's fields for a fmt layer whose field
/// formatter is `N`: see the module's comment.
struct RequestSpan<N> {
    form: Form,
    fields: PhantomData<fn(N)>,
}

impl<N> RequestSpan<N> {
    /// For `layer`, whose field formatter type cannot be named (a closure).
    fn for_layer<S, E, W>(_layer: &tracing_subscriber::fmt::Layer<S, N, E, W>, form: Form) -> Self {
        Self {
            form,
            fields: PhantomData,
        }
    }
}

impl<S, N> Layer<S> for RequestSpan<N>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if meta.name() != "request" || meta.target() != "berth_server::request_id" {
            return;
        }
        let mut text = Fields {
            out: String::with_capacity(80),
            form: self.form,
            plain: true,
        };
        if let Form::Json = self.form {
            text.out.push('{');
        }
        attrs.record(&mut text);
        if !text.plain {
            // Not the two strings it should be: the fmt layer formats it.
            return;
        }
        if let Form::Json = self.form {
            text.out.push('}');
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut()
                .insert(FormattedFields::<N>::new(text.out));
        }
    }
}

/// Writes string fields that need no escaping; anything else clears
/// `plain`.
struct Fields {
    out: String,
    form: Form,
    plain: bool,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Request ids are checked (`request_id::sane`) and addresses are
        // digits, dots and colons; anything else goes the long way.
        let safe = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'));
        if !safe {
            self.plain = false;
            return;
        }
        let first = matches!(self.out.as_str(), "" | "{");
        match self.form {
            Form::Text => {
                if !first {
                    self.out.push(' ');
                }
                self.out.push_str(field.name());
                self.out.push('=');
                self.out.push_str(value);
            }
            Form::Json => {
                if !first {
                    self.out.push(',');
                }
                self.out.push('"');
                self.out.push_str(field.name());
                self.out.push_str("\":\"");
                self.out.push_str(value);
                self.out.push('"');
            }
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {
        self.plain = false;
    }
}
