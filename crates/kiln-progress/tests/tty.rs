//! The tty view renders into a buffer: exact final frame, live frames within the terminal
//! height, and no panic on tiny terminals or odd event sequences.

mod common;

use common::{Script, arc, at, clock};
use kiln_progress::{FixedSize, Printer, SolveStatus, TtyPrinter, Vertex, VertexLog};

type Tty = TtyPrinter<Vec<u8>>;

fn tty(width: usize, height: usize) -> Script<Tty> {
    let c = clock();
    let p = TtyPrinter::new(Vec::new(), arc(&c), Box::new(FixedSize { width, height }))
        .with_description("docker:default")
        .with_color(false);
    Script::new(c, p)
}

/// Drops ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn build(s: &mut Script<Tty>) {
    s.start(
        "sha256:def",
        "[internal] load build definition from Dockerfile",
        0,
    )
    .status("sha256:def", "transferring dockerfile:", 87, 0, 0, 20, true)
    .complete("sha256:def", 30)
    .now(30)
    .refresh()
    .cached(
        "sha256:from",
        "[1/2] FROM docker.io/library/busybox:latest",
        40,
    )
    .start("sha256:run", "[2/2] RUN make", 100)
    .log("sha256:run", 200, "compiling 1\ncompiling 2\n")
    .warn(
        "sha256:def",
        "JSONArgsRecommended: JSON arguments recommended for CMD (line 3)",
    )
    .now(1300)
    .refresh();
}

#[test]
fn live_frame_shows_running_step_output() {
    let mut s = tty(80, 30);
    build(&mut s);
    let frame = strip_ansi(&String::from_utf8_lossy(&s.printer.into_inner()));
    let last = frame.rsplit("[+] Building").next().unwrap();
    let lines: Vec<&str> = last.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            " 1.3s (2/3)                                          docker:default",
            " => [internal] load build definition from Dockerfile                       0.0s",
            " => => transferring dockerfile: 87B                                        0.0s",
            " => WARN: JSONArgsRecommended: JSON arguments recommended for CMD (line 3  0.0s",
            " => CACHED [1/2] FROM docker.io/library/busybox:latest                     0.0s",
            " => [2/2] RUN make                                                         1.2s",
            " => => # compiling 1",
            " => => # compiling 2",
        ]
    );
}

#[test]
fn final_frame_is_finished_and_prints_error_logs() {
    let mut s = tty(80, 30);
    build(&mut s);
    s.log("sha256:run", 1400, "error: boom\n")
        .fail(
            "sha256:run",
            1500,
            "process \"/bin/sh -c make\" did not complete successfully: exit code: 2",
        )
        .now(1500);
    let before = s.printer.get_ref().len();
    s.done();
    let all = s.printer.into_inner();
    let frame = strip_ansi(&String::from_utf8_lossy(&all[before..]));
    let lines: Vec<&str> = frame.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "[+] Building 1.5s (3/3) FINISHED                                 docker:default",
            " => [internal] load build definition from Dockerfile                       0.0s",
            " => => transferring dockerfile: 87B                                        0.0s",
            " => WARN: JSONArgsRecommended: JSON arguments recommended for CMD (line 3  0.0s",
            " => CACHED [1/2] FROM docker.io/library/busybox:latest                     0.0s",
            " => ERROR [2/2] RUN make                                                   1.4s",
            // The live frame had two more lines (the step's output): they are blanked.
            "",
            "",
            "------",
            " > [2/2] RUN make:",
            "0.100 compiling 1",
            "0.100 compiling 2",
            "1.300 error: boom",
            "------",
        ]
    );
}

#[test]
fn colors_mark_finished_failed_and_warned_steps() {
    let c = clock();
    let p = TtyPrinter::new(
        Vec::new(),
        arc(&c),
        Box::new(FixedSize {
            width: 80,
            height: 30,
        }),
    );
    let mut s = Script::new(c, p);
    build(&mut s);
    s.fail("sha256:run", 1500, "exit code: 2").now(1500).done();
    let out = String::from_utf8_lossy(&s.printer.into_inner()).into_owned();
    assert!(out.contains("\x1b[34m => CACHED [1/2] FROM"));
    assert!(out.contains("\x1b[31m => ERROR [2/2] RUN make"));
    assert!(out.contains("\x1b[33m => WARN: JSONArgsRecommended"));
}

#[test]
fn small_terminals_and_odd_events_do_not_panic() {
    for (w, h) in [(1, 1), (0, 0), (10, 3), (20, 4), (200, 2)] {
        let mut s = tty(w, h);
        build(&mut s);
        for i in 0..50 {
            s.start(
                &format!("sha256:{i}"),
                &format!("[{i}/50] RUN step {i}"),
                100 + i,
            )
            .log(&format!("sha256:{i}"), 150 + i, "x\ry\r\n\u{1b}[31mz\t\n");
        }
        s.refresh();
        // Events for vertexes never announced, logs before start, completion before start.
        s.printer
            .update(&SolveStatus {
                logs: vec![VertexLog {
                    vertex: "sha256:unknown".into(),
                    stream: 1,
                    data: b"ghost".to_vec(),
                    timestamp: at(0),
                }],
                vertexes: vec![Vertex {
                    digest: "sha256:weird".into(),
                    completed: Some(at(5)),
                    ..Vertex::default()
                }],
                ..SolveStatus::default()
            })
            .unwrap();
        s.done();
    }
}
