//! Logging: `tracing` to stderr (text or JSON lines) at the configured level, plus a tap
//! that copies log lines to `monitor` clients. The tap formats nothing while nobody is
//! watching.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::SystemTime;

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Lines buffered per monitor client before it misses some.
const MONITOR_BUFFER: usize = 512;

/// One log line for monitors.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Formatted text.
    pub text: String,
}

/// Where monitor clients subscribe.
pub type LogTap = broadcast::Sender<LogLine>;

/// Installs the global subscriber. Returns the tap for monitors.
pub fn init(level: Level, json: bool) -> LogTap {
    let (tap, _) = broadcast::channel(MONITOR_BUFFER);
    let filter = LevelFilter::from_level(level);
    let text = (!json).then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .with_filter(filter)
    });
    let json = json.then(|| {
        fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
    });
    let monitor = MonitorLayer { tap: tap.clone() }.with_filter(LevelFilter::DEBUG);
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(text)
        .with(json)
        .with(monitor)
        .try_init();
    tap
}

struct MonitorLayer {
    tap: LogTap,
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for MonitorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.tap.receiver_count() == 0 {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let when = humantime::format_rfc3339_millis(SystemTime::now());
        let text = format!("{when} [{level}] {}{}", fields.message, fields.rest);
        let _ = self.tap.send(LogLine { level, text });
    }
}

/// Subscribes a monitor client; see [`init`].
pub fn subscribe(tap: &LogTap) -> broadcast::Receiver<LogLine> {
    tap.subscribe()
}
