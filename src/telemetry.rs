//! Log set-up: human-readable by default, one JSON object per line with `LOG_FORMAT=json`.
//!
//! A JSON line is flat: `timestamp`, `level`, `target`, `span` (the innermost span's name),
//! then the fields of every span the event happened in (outermost first, so an inner span's
//! field wins), then the event's own fields and `message`. A line written while a request is
//! handled therefore carries the request span's `invocation` (the host's
//! `X-Azure-Functions-InvocationId`), `event_id` or `delivery_id`, and `ticket_id` once known,
//! as top-level keys that Application Insights queries can filter on.

use std::fmt;
use std::io::IsTerminal as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::LogFormat;

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = match format {
        // Colour codes only for a person at a terminal, never in the host's captured log.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
            .map_err(|e| e.to_string()),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(SpanFieldsLayer)
            .with(json_layer())
            .try_init()
            .map_err(|e| e.to_string()),
    };
}

/// The formatting layer of `LOG_FORMAT=json`; needs [`SpanFieldsLayer`] below it.
fn json_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(FlatJson)
}

/// A span's fields as JSON values, kept in the span's extensions by [`SpanFieldsLayer`].
struct SpanFields(Map<String, Value>);

/// Records every span's fields (at creation and on each later `record`) as JSON values.
pub struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => values.record(&mut JsonVisitor(&mut fields.0)),
            None => {
                let mut fields = Map::new();
                values.record(&mut JsonVisitor(&mut fields));
                extensions.insert(SpanFields(fields));
            }
        }
    }
}

/// Writes fields into a JSON object: numbers and booleans stay typed, the rest become text.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

/// One flat JSON object per event (see the module documentation).
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), Value::from(timestamp));
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            for span in scope.from_root() {
                innermost = Some(span.name());
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (name, value) in &fields.0 {
                        line.insert(name.clone(), value.clone());
                    }
                }
            }
            if let Some(name) = innermost {
                line.insert("span".into(), Value::from(name));
            }
        }
        // The event's own fields last: they win over a span field of the same name.
        event.record(&mut JsonVisitor(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing::field::Empty;

    use super::*;

    /// A writer that keeps what it was given.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_every_span_field_at_the_top_level() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry().with(SpanFieldsLayer).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .event_format(FlatJson),
        );
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "CfToHalo",
                invocation = "inv-1",
                event_id = Empty,
                ticket_id = Empty
            );
            let _entered = request.enter();
            tracing::info!("before the event id");
            request.record("event_id", "evt-9");
            let inner = tracing::info_span!("inner", step = 2);
            inner.in_scope(|| tracing::warn!(ticket_id = 1000_u64, "created"));
            request.record("ticket_id", 1000_u64);
            tracing::info!(status = 200_u64, "answered");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["invocation"], "inv-1");
        assert_eq!(lines[0]["message"], "before the event id");
        assert_eq!(lines[0]["span"], "CfToHalo");
        assert_eq!(lines[0]["level"], "INFO");
        assert!(lines[0].get("event_id").is_none(), "not yet known");
        assert_eq!(lines[1]["event_id"], "evt-9");
        assert_eq!(lines[1]["invocation"], "inv-1");
        assert_eq!(lines[1]["ticket_id"], 1000);
        assert_eq!(lines[1]["step"], 2);
        assert_eq!(lines[1]["span"], "inner");
        assert_eq!(lines[2]["ticket_id"], 1000);
        assert_eq!(lines[2]["status"], 200);
        assert!(lines[2]["timestamp"].as_str().is_some_and(|t| t.len() > 18));
    }
}
