//! A scripted build for the printer tests: events at fixed times, a manual clock.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_progress::{
    ManualClock, Printer, SolveStatus, Vertex, VertexLog, VertexStatus, VertexWarning,
};

pub const T0_SECS: u64 = 1_795_312_132;

pub fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS) + Duration::from_millis(ms)
}

/// Drives a printer with events stamped relative to T0.
pub struct Script<P: Printer> {
    pub clock: ManualClock,
    pub printer: P,
    vertexes: std::collections::HashMap<String, Vertex>,
}

pub fn clock() -> ManualClock {
    ManualClock::new(at(0))
}

pub fn arc(clock: &ManualClock) -> Arc<ManualClock> {
    Arc::new(clock.clone())
}

impl<P: Printer> Script<P> {
    pub fn new(clock: ManualClock, printer: P) -> Self {
        Script {
            clock,
            printer,
            vertexes: Default::default(),
        }
    }

    fn send(&mut self, s: SolveStatus) {
        self.printer.update(&s).unwrap();
    }

    fn put(&mut self, v: Vertex) {
        self.vertexes.insert(v.digest.clone(), v.clone());
        self.send(SolveStatus {
            vertexes: vec![v],
            ..Default::default()
        });
    }

    /// Moves the clock to `ms` after T0.
    pub fn now(&mut self, ms: u64) -> &mut Self {
        self.clock.set(at(ms));
        self
    }

    pub fn seen(&mut self, d: &str, name: &str) -> &mut Self {
        self.put(Vertex {
            digest: d.into(),
            name: name.into(),
            ..Default::default()
        });
        self
    }

    pub fn start(&mut self, d: &str, name: &str, ms: u64) -> &mut Self {
        self.put(Vertex {
            digest: d.into(),
            name: name.into(),
            started: Some(at(ms)),
            ..Default::default()
        });
        self
    }

    pub fn complete(&mut self, d: &str, ms: u64) -> &mut Self {
        let mut v = self.vertexes.get(d).cloned().unwrap();
        v.completed = Some(at(ms));
        self.put(v);
        self
    }

    pub fn fail(&mut self, d: &str, ms: u64, err: &str) -> &mut Self {
        let mut v = self.vertexes.get(d).cloned().unwrap();
        v.completed = Some(at(ms));
        v.error = Some(err.into());
        self.put(v);
        self
    }

    pub fn cached(&mut self, d: &str, name: &str, ms: u64) -> &mut Self {
        self.put(Vertex {
            digest: d.into(),
            name: name.into(),
            started: Some(at(ms)),
            completed: Some(at(ms)),
            cached: true,
            ..Default::default()
        });
        self
    }

    pub fn log(&mut self, d: &str, ms: u64, data: &str) -> &mut Self {
        self.send(SolveStatus {
            logs: vec![VertexLog {
                vertex: d.into(),
                stream: 1,
                data: data.as_bytes().to_vec(),
                timestamp: at(ms),
            }],
            ..Default::default()
        });
        self
    }

    /// A status update: started at `start_ms`, stamped `ms`, completed at `ms` when `done`.
    #[allow(clippy::too_many_arguments)]
    pub fn status(
        &mut self,
        d: &str,
        id: &str,
        current: i64,
        total: i64,
        start_ms: u64,
        ms: u64,
        done: bool,
    ) -> &mut Self {
        self.send(SolveStatus {
            statuses: vec![VertexStatus {
                id: id.into(),
                vertex: d.into(),
                name: String::new(),
                total,
                current,
                timestamp: at(ms),
                started: Some(at(start_ms)),
                completed: done.then(|| at(ms)),
            }],
            ..Default::default()
        });
        self
    }

    pub fn warn(&mut self, d: &str, short: &str) -> &mut Self {
        self.send(SolveStatus {
            warnings: vec![VertexWarning {
                vertex: d.into(),
                level: 1,
                short: short.as_bytes().to_vec(),
                url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        self
    }

    pub fn refresh(&mut self) -> &mut Self {
        self.printer.refresh().unwrap();
        self
    }

    pub fn done(&mut self) -> &mut Self {
        self.printer.done().unwrap();
        self
    }
}
