//! What the libraries report through `tracing` reaches the user on stderr the way buildx words
//! its own notices: `WARNING: …` (a missing slirp4netns, the copying snapshotter fallback, a
//! cleanup that failed). `-D`/`--debug` adds debug lines; `KILN_LOG` takes an `EnvFilter`
//! directive (`KILN_LOG=kiln_registry=debug`) for finer choices.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `WARNING: message key=value` lines, no timestamp or target.
struct BuildxStyle;

impl<S, N> FormatEvent<S, N> for BuildxStyle
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
        let label = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        write!(writer, "{label}: ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the stderr logger once per process (a second call is a no-op).
pub fn init(debug: bool) {
    let filter = std::env::var("KILN_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(if debug { "debug" } else { "warn" }));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(BuildxStyle)
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn library_warnings_read_like_buildx_notices() {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("warn"))
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(BuildxStyle)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("slirp4netns is not installed: install it");
            tracing::info!("not shown at the default level");
            tracing::warn!(id = "c1", "runc delete failed");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "WARNING: slirp4netns is not installed: install it\n\
             WARNING: runc delete failed id=\"c1\"\n"
        );
    }
}
