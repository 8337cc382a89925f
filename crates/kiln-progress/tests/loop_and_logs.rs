//! The display loop over the channel, the log writer's limits, the warnings summary.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::at;
use kiln_progress::{
    LogWriter, ManualClock, PlainPrinter, Printer, Resolved, SolveStatus, Vertex, VertexWarning,
    WarningsStyle, channel, display, print_warnings,
};

#[tokio::test]
async fn display_drains_the_channel_and_returns_warnings() {
    let (tx, rx) = channel();
    let clock = Arc::new(ManualClock::new(at(0)));
    let mut printer = PlainPrinter::new(Vec::new(), clock.clone());
    let solver = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let v = Vertex {
                digest: "sha256:run".into(),
                name: "[1/1] RUN echo hi".into(),
                started: Some(at(0)),
                ..Vertex::default()
            };
            tx.vertex(v.clone());
            let mut out = LogWriter::new(
                tx.clone(),
                "sha256:run".into(),
                1,
                Arc::new(ManualClock::new(at(250))),
            );
            out.write_all(b"hi\n").unwrap_or_default();
            tx.warning(VertexWarning {
                vertex: "sha256:run".into(),
                level: 1,
                short: b"UndefinedVar: Usage of undefined variable '$FOO' (line 2)".to_vec(),
                ..VertexWarning::default()
            });
            tx.vertex(Vertex {
                completed: Some(at(500)),
                ..v
            });
        })
    };
    drop(tx);
    let (warnings, joined) = tokio::join!(display(rx, &mut printer), solver);
    joined.unwrap();
    let warnings = warnings.unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        String::from_utf8(printer.into_inner()).unwrap(),
        "#1 [1/1] RUN echo hi\n#1 0.250 hi\n#1 DONE 0.5s\n"
    );
    let mut out = Vec::new();
    print_warnings(
        &mut out,
        &warnings,
        Resolved::Plain,
        WarningsStyle::default(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\n 1 warning found (use docker --debug to expand):\n - UndefinedVar: Usage of undefined variable '$FOO' (line 2)\n"
    );
}

#[test]
fn warnings_summary_plural_debug_and_quiet() {
    let w = |short: &str| VertexWarning {
        short: short.as_bytes().to_vec(),
        detail: vec![b"Detail text.".to_vec()],
        url: "https://docs.docker.com/go/dockerfile/rule/x/".into(),
        ..VertexWarning::default()
    };
    let warnings = [w("A: one (line 1)"), w("B: two (line 5)")];
    let mut out = Vec::new();
    print_warnings(
        &mut out,
        &warnings,
        Resolved::Tty,
        WarningsStyle {
            color: true,
            ..WarningsStyle::default()
        },
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\n \x1b[33m2 warnings found (use docker --debug to expand):\n\x1b[0m - A: one (line 1)\n - B: two (line 5)\n"
    );
    let mut out = Vec::new();
    print_warnings(
        &mut out,
        &warnings[..1],
        Resolved::Plain,
        WarningsStyle {
            debug: true,
            ..WarningsStyle::default()
        },
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "\n 1 warning found:\n - A: one (line 1)\nDetail text.\nMore info: https://docs.docker.com/go/dockerfile/rule/x/\n\n"
    );
    for mode in [Resolved::Quiet, Resolved::RawJson] {
        let mut out = Vec::new();
        print_warnings(&mut out, &warnings, mode, WarningsStyle::default()).unwrap();
        assert!(out.is_empty());
    }
}

/// Collects what a LogWriter sends.
fn drain(mut rx: kiln_progress::ProgressReceiver) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(SolveStatus { logs, .. }) = rx.blocking_recv() {
        for l in logs {
            data.extend(l.data);
        }
    }
    data
}

#[test]
fn log_writer_clips_at_the_size_limit() {
    let (tx, rx) = channel();
    let clock = Arc::new(ManualClock::new(at(0)));
    let mut w =
        LogWriter::new(tx, "sha256:run".into(), 1, clock.clone()).with_limits(Some(10), None);
    w.write_all(b"0123456").unwrap_or_default();
    w.write_all(b"789abc").unwrap_or_default();
    w.write_all(b"more").unwrap_or_default();
    drop(w);
    assert_eq!(
        String::from_utf8(drain(rx)).unwrap(),
        "0123456789\n[output clipped, log limit 10B reached]\n"
    );
}

#[test]
fn log_writer_clips_by_speed_and_resumes() {
    let (tx, rx) = channel();
    let clock = ManualClock::new(at(0));
    let mut w = LogWriter::new(tx, "sha256:run".into(), 1, Arc::new(clock.clone()))
        .with_limits(Some(kiln_progress::DEFAULT_MAX_LOG_SIZE), Some(4));
    w.write_all(b"abcdef").unwrap_or_default();
    w.write_all(b"gh").unwrap_or_default();
    clock.advance(Duration::from_millis(2500));
    w.write_all(b"ij").unwrap_or_default();
    drop(w);
    assert_eq!(
        String::from_utf8(drain(rx)).unwrap(),
        "abcd\n[output clipped, log limit 4B/s reached]\nij"
    );
}

#[test]
fn log_writer_default_limit_message_is_buildkits() {
    let (tx, rx) = channel();
    let clock = Arc::new(ManualClock::new(at(0)));
    let mut w = LogWriter::new(tx, "sha256:run".into(), 1, clock)
        .with_limits(Some(kiln_progress::DEFAULT_MAX_LOG_SIZE), None);
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..3 {
        w.write_all(&chunk).unwrap_or_default();
    }
    drop(w);
    let data = drain(rx);
    assert_eq!(
        data.len(),
        2 * 1024 * 1024 + "\n[output clipped, log limit 2MiB reached]\n".len()
    );
    assert!(data.ends_with(b"\n[output clipped, log limit 2MiB reached]\n"));
}

#[test]
fn sending_after_the_display_ended_is_harmless() {
    let (tx, rx) = channel();
    drop(rx);
    assert!(tx.is_closed());
    tx.vertex(Vertex::default());
    let mut quiet = kiln_progress::QuietPrinter;
    quiet.update(&SolveStatus::default()).unwrap();
    quiet.done().unwrap();
}
