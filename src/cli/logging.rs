//! `--log`, `--log-format` and `--debug`: where `tracing` events go, and in what shape.
//!
//! `--log-format json` writes logrus's shape, one `{"level","msg","time",…}` object per
//! line, because containerd's shim (go-runc) reads the runtime's last `"level":"error"`
//! record from the log file to report why a command failed.

use std::fmt;
use std::fs::OpenOptions;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use super::{CliError, Globals, LogFormat};

/// Install the global `tracing` subscriber the flags ask for: stderr or `--log` (appended,
/// as runc does), text or JSON, `debug` level with `--debug` and `warn` otherwise.
pub fn init_logging(globals: &Globals) -> Result<(), CliError> {
    match &globals.log {
        None => install(globals, std::io::stderr),
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CliError::OpenLog {
                    path: path.clone(),
                    source,
                })?;
            install(globals, Mutex::new(file));
        }
    }
    Ok(())
}

fn install<W>(globals: &Globals, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = if globals.debug { "debug" } else { "warn" };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_ansi(false)
        .with_writer(writer);
    // A subscriber that is already installed (a test calling this twice) stays.
    let _ = match globals.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(LogrusJson).try_init(),
    };
}

/// One logrus-style JSON object per event: `level` (lowercase, `warning` for WARN),
/// `msg`, `time` (RFC 3339) and the event's other fields.
struct LogrusJson;

impl<S, N> FormatEvent<S, N> for LogrusJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let mut record = fields.0;
        if let Some(message) = record.remove("message") {
            record.insert("msg".to_owned(), message);
        }
        record.insert(
            "level".to_owned(),
            logrus_level(*event.metadata().level()).into(),
        );
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        record.insert("time".to_owned(), time.into());
        writeln!(writer, "{}", Value::Object(record))
    }
}

fn logrus_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's fields as JSON values.
struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}
