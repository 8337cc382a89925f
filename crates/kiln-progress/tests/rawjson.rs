//! `--progress=rawjson` prints each batch as the JSON line buildx prints.

mod common;

use common::at;
use kiln_progress::{
    Position, Printer, Range, RawJsonPrinter, SolveStatus, SourceInfo, Vertex, VertexLog,
    VertexStatus, VertexWarning,
};

#[test]
fn batches_are_go_json_lines() {
    let mut p = RawJsonPrinter::new(Vec::new());
    p.update(&SolveStatus {
        vertexes: vec![Vertex {
            digest: "sha256:run".into(),
            inputs: vec!["sha256:from".into()],
            name: "[2/2] RUN echo a > /b && true".into(),
            started: Some(at(120)),
            ..Vertex::default()
        }],
        ..SolveStatus::default()
    })
    .unwrap();
    p.update(&SolveStatus {
        statuses: vec![VertexStatus {
            id: "transferring context:".into(),
            vertex: "sha256:ctx".into(),
            name: String::new(),
            total: 0,
            current: 0,
            timestamp: at(0),
            started: Some(at(0)),
            completed: None,
        }],
        logs: vec![VertexLog {
            vertex: "sha256:run".into(),
            stream: 2,
            data: b"oops\n".to_vec(),
            timestamp: at(1500),
        }],
        ..SolveStatus::default()
    })
    .unwrap();
    p.update(&SolveStatus {
        vertexes: vec![Vertex {
            digest: "sha256:run".into(),
            name: "[2/2] RUN exit 3".into(),
            started: Some(at(120)),
            completed: Some(at(2000)),
            error: Some(
                "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3".into(),
            ),
            cached: false,
            ..Vertex::default()
        }],
        warnings: vec![VertexWarning {
            vertex: "sha256:def".into(),
            level: 1,
            short: b"JSONArgsRecommended: JSON arguments recommended for CMD (line 3)".to_vec(),
            detail: vec![b"Use JSON".to_vec()],
            url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/".into(),
            source_info: Some(SourceInfo {
                filename: "Dockerfile".into(),
                data: b"FROM a\n".to_vec(),
                language: "Dockerfile".into(),
            }),
            range: vec![Range {
                start: Position {
                    line: 3,
                    character: 0,
                },
                end: Position {
                    line: 3,
                    character: 0,
                },
            }],
        }],
        ..SolveStatus::default()
    })
    .unwrap();
    p.done().unwrap();
    let out = String::from_utf8(p.into_inner()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        r#"{"vertexes":[{"digest":"sha256:run","inputs":["sha256:from"],"name":"[2/2] RUN echo a \u003e /b \u0026\u0026 true","started":"2026-11-22T01:48:52.12Z"}]}"#
    );
    assert_eq!(
        lines[1],
        r#"{"statuses":[{"id":"transferring context:","vertex":"sha256:ctx","current":0,"timestamp":"2026-11-22T01:48:52Z","started":"2026-11-22T01:48:52Z"}],"logs":[{"vertex":"sha256:run","stream":2,"data":"b29wcwo=","timestamp":"2026-11-22T01:48:53.5Z"}]}"#
    );
    assert_eq!(
        lines[2],
        r#"{"vertexes":[{"digest":"sha256:run","name":"[2/2] RUN exit 3","started":"2026-11-22T01:48:52.12Z","completed":"2026-11-22T01:48:54Z","error":"process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"}],"warnings":[{"vertex":"sha256:def","level":1,"short":"SlNPTkFyZ3NSZWNvbW1lbmRlZDogSlNPTiBhcmd1bWVudHMgcmVjb21tZW5kZWQgZm9yIENNRCAobGluZSAzKQ==","detail":["VXNlIEpTT04="],"url":"https://docs.docker.com/go/dockerfile/rule/json-args-recommended/","sourceInfo":{"filename":"Dockerfile","data":"RlJPTSBhCg==","language":"Dockerfile"},"range":[{"start":{"line":3},"end":{"line":3}}]}]}"#
    );
}
