//! The server's log: text (`name=value`, no colours unless a terminal) or
//! JSON lines on stderr, filtered by `RUST_LOG` or `log.level`.
//!
//! Every line written while a request is answered names the request's id
//! and client address (`berth_server::current_request`), in the form a
//! tracing span named `request` takes in tracing's own formats: text lines
//! carry `request{request_id=.. client=..}:` before the target, JSON lines
//! `"span"` and `"spans"`. The request is not a span, which would be made,
//! entered and closed on every request whether or not a line is ever
//! written in it (a tenth of a cached index hit's instructions); the
//! formatter here asks for it when it writes a line. Any other span is
//! written by tracing's formats as they are.

use std::fmt;

use berth_core::config::LogFormat;
use berth_core::Config;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::layer::SubscriberExt;
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
            .event_format(WithRequest {
                inner: tracing_subscriber::fmt::format().json(),
                json: true,
            })
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        registry.with(fmt).init();
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
        // The time and the level are written here, before the request;
        // tracing's full format writes the rest (spans, target, fields).
        let rest = tracing_subscriber::fmt::format()
            .without_time()
            .with_level(false);
        let fmt = tracing_subscriber::fmt::layer()
            .fmt_fields(fields)
            .event_format(WithRequest {
                inner: rest,
                json: false,
            })
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        registry.with(fmt).init();
    }
}

/// How a line names the request it is written for, in the form tracing's
/// own formats give a span named `request` with its two fields:
/// - text: `TIME LEVEL request{request_id=ID client=ADDR}: TARGET: FIELDS`
///   (the time dimmed and the level coloured on a terminal); `inner` is
///   tracing's full format without the time and the level;
/// - JSON: tracing's JSON format (`inner`), with `"span"` and `"spans"`.
struct WithRequest<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.json {
            let span = berth_server::current_request(|id, client| {
                let mut span = serde_json::Map::new();
                span.insert("name".into(), "request".into());
                span.insert("request_id".into(), id.into());
                if let Some(client) = client {
                    span.insert("client".into(), client.into());
                }
                serde_json::Value::Object(span)
            });
            let Some(span) = span else {
                return self.inner.format_event(ctx, writer, event);
            };
            let mut line = String::new();
            self.inner
                .format_event(ctx, Writer::new(&mut line), event)?;
            // Before the object's closing brace, at the line's end.
            return match line.trim_end().strip_suffix('}') {
                Some(object) if !object.is_empty() => {
                    writer.write_str(object)?;
                    write!(writer, ",\"span\":{span},\"spans\":[{span}]")?;
                    writer.write_str(&line[object.len()..])
                }
                _ => writer.write_str(&line),
            };
        }
        let ansi = writer.has_ansi_escapes();
        if ansi {
            writer.write_str("\x1b[2m")?;
        }
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        if ansi {
            writer.write_str("\x1b[0m")?;
        }
        writer.write_char(' ')?;
        write_level(&mut writer, *event.metadata().level(), ansi)?;
        writer.write_char(' ')?;
        berth_server::current_request(|id, client| {
            let (bold, dim, plain) = if ansi {
                ("\x1b[1m", "\x1b[2m", "\x1b[0m")
            } else {
                ("", "", "")
            };
            write!(writer, "{bold}request{{{plain}request_id={id}")?;
            if let Some(client) = client {
                write!(writer, " client={client}")?;
            }
            write!(writer, "{bold}}}{plain}{dim}:{plain} ")
        })
        .transpose()?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// The level as tracing's full format writes it: five columns, coloured on
/// a terminal.
fn write_level(writer: &mut Writer<'_>, level: Level, ansi: bool) -> fmt::Result {
    let (text, colour) = match level {
        Level::TRACE => ("TRACE", "35"),
        Level::DEBUG => ("DEBUG", "34"),
        Level::INFO => (" INFO", "32"),
        Level::WARN => (" WARN", "33"),
        Level::ERROR => ("ERROR", "31"),
    };
    if ansi {
        write!(writer, "\x1b[{colour}m{text}\x1b[0m")
    } else {
        writer.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `log` with a subscriber of `form`'s writer and returns what it
    /// wrote.
    fn written(json: bool, log: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let out = buffer.clone();
        let make = move || out.clone();
        if json {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .event_format(WithRequest {
                    inner: tracing_subscriber::fmt::format().json(),
                    json: true,
                })
                .with_writer(make)
                .with_ansi(false);
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        } else {
            let rest = tracing_subscriber::fmt::format()
                .without_time()
                .with_level(false);
            let layer = tracing_subscriber::fmt::layer()
                .event_format(WithRequest {
                    inner: rest,
                    json: false,
                })
                .with_writer(make)
                .with_ansi(false);
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        }
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn lines_outside_a_request_are_tracings_own() {
        let text = written(false, || tracing::info!(target: "t", n = 1, "hello"));
        let (time, rest) = text.split_once(' ').unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{text}");
        assert_eq!(rest, " INFO t: hello n=1\n");
        let json = written(true, || tracing::warn!(target: "t", n = 1, "hello"));
        let line: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["n"], 1);
        assert!(line.get("span").is_none(), "{json}");
    }
}
