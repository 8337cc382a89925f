//! The display loop: receives batches from the progress channel, feeds the printer, and
//! refreshes it at BuildKit's pace (at most every 100 ms after updates, every 150 ms idle).

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::channel::ProgressReceiver;
use crate::error::Error;
use crate::event::VertexWarning;
use crate::printer::Printer;

/// Minimum time between two refreshes caused by updates.
pub const DISPLAY_INTERVAL: Duration = Duration::from_millis(100);
/// Refresh period while no update arrives (timers of running steps keep moving).
pub const TICK_INTERVAL: Duration = Duration::from_millis(150);

/// Runs `printer` until every sender of the channel is dropped, then calls
/// [`Printer::done`]. Returns every warning received, in order, for
/// [`crate::print_warnings`]. Fails only when writing the output fails.
pub async fn display(
    mut rx: ProgressReceiver,
    printer: &mut dyn Printer,
) -> Result<Vec<VertexWarning>, Error> {
    let mut warnings = Vec::new();
    let mut ticker = tokio::time::interval(TICK_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_refresh: Option<Instant> = None;
    loop {
        tokio::select! {
            status = rx.recv() => {
                let Some(status) = status else { break };
                printer.update(&status)?;
                warnings.extend(status.warnings.iter().cloned());
                let now = Instant::now();
                if last_refresh.is_none_or(|t| now.duration_since(t) >= DISPLAY_INTERVAL) {
                    printer.refresh()?;
                    last_refresh = Some(now);
                }
                ticker.reset();
            }
            _ = ticker.tick() => {
                printer.refresh()?;
                last_refresh = Some(Instant::now());
            }
        }
    }
    printer.done()?;
    Ok(warnings)
}
