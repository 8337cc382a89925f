//! Runs the `instructions` conformance suite (BuildKit's instruction test data).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_dockerfile::{Command, Instruction, parse, parse_device, parse_instruction};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn cases<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn check_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Parses `src` and converts its first instruction.
fn first(src: &str) -> Result<Result<Instruction, kiln_dockerfile::Error>, String> {
    let ast = kiln_dockerfile_parser::parse(src.as_bytes())
        .map_err(|e| format!("parse failed: {e}"))?
        .ast;
    let node = ast.children.first().ok_or("no instruction")?;
    Ok(parse_instruction(node))
}

#[test]
fn conformance_instructions() {
    let Some(dir) = kiln_testkit::suite_dir("instructions") else {
        return;
    };
    let mut report = kiln_testkit::Report::new("instructions");

    let data = kiln_testkit::load_json(&dir, "errors.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("errors[{i}] {}", s(&c["name"])), || {
            let msg = match first(&s(&c["dockerfile"]))? {
                Ok(inst) => return Err(format!("converted, want error: {inst:?}")),
                Err(e) => e.to_string(),
            };
            if let Some(want) = c.get("expectedError") {
                check_eq("error", msg, s(want))
            } else {
                let want = s(&c["expectedErrorContains"]);
                if msg.contains(&want) {
                    Ok(())
                } else {
                    Err(format!("error {msg:?} does not contain {want:?}"))
                }
            }
        });
    }

    let data = kiln_testkit::load_json(&dir, "copy-sources.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("copy-sources[{i}]"), || {
            let inst = first(&s(&c["dockerfile"]))?.map_err(|e| e.to_string())?;
            let Instruction::Command(Command::Copy(cp)) = inst else {
                return Err(format!("not a COPY: {inst:?}"));
            };
            let sd = &cp.sources_and_dest;
            let got = json!({
                "destPath": sd.dest_path,
                "sourcePaths": sd.source_paths,
                "sourceContents": sd.source_contents.iter().map(|c| json!({
                    "path": c.path, "data": c.data, "expand": c.expand,
                })).collect::<Vec<_>>(),
            });
            check_eq("copy", got, c["expected"].clone())
        });
    }

    let data = kiln_testkit::load_json(&dir, "run-heredoc.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("run-heredoc[{i}]"), || {
            let inst = first(&s(&c["dockerfile"]))?.map_err(|e| e.to_string())?;
            let Instruction::Command(Command::Run(run)) = inst else {
                return Err(format!("not a RUN: {inst:?}"));
            };
            let got = json!({
                "prependShell": run.cmd.prepend_shell,
                "cmdLine": run.cmd.cmd_line,
                "files": run.cmd.files.iter().map(|f| json!({
                    "name": f.name, "data": f.data, "chomp": f.chomp,
                })).collect::<Vec<_>>(),
            });
            check_eq("run", got, c["expected"].clone())
        });
    }

    let data = kiln_testkit::load_json(&dir, "run-device.json");
    for c in cases(&data, "cases") {
        let input = s(&c["input"]);
        report.run(format!("run-device/{input}"), || {
            match (parse_device(&input), c.get("expectedError")) {
                (Ok(d), None) => check_eq(
                    "device",
                    json!({"name": d.name, "required": d.required}),
                    c["expected"].clone(),
                ),
                (Err(e), Some(want)) => check_eq("error", e.to_string(), s(want)),
                (Ok(d), Some(_)) => Err(format!("got {d:?}, want error")),
                (Err(e), None) => Err(format!("error: {e}")),
            }
        });
    }

    let data = kiln_testkit::load_json(&dir, "misc.json");
    for (i, c) in cases(&data, "comments").iter().enumerate() {
        report.run(format!("misc/comments[{i}]"), || {
            let ast = kiln_dockerfile_parser::parse(s(&c["dockerfile"]).as_bytes())
                .map_err(|e| e.to_string())?
                .ast;
            let (stages, meta) = parse(&ast).map_err(|e| e.to_string())?;
            let args_json = |a: &kiln_dockerfile::ArgCommand| -> Vec<Value> {
                a.args
                    .iter()
                    .map(|kv| json!({"key": kv.key, "docComment": kv.comment}))
                    .collect()
            };
            let exp = &c["expected"];
            let got_stages: Vec<Value> = stages
                .iter()
                .map(|st| {
                    let commands: Vec<Value> = st
                        .commands
                        .iter()
                        .map(|cmd| match cmd {
                            Command::Arg(a) => json!({"args": args_json(a)}),
                            other => json!({"name": other.name()}),
                        })
                        .collect();
                    json!({"docComment": st.comment, "commands": commands})
                })
                .collect();
            check_eq("stages", Value::Array(got_stages), exp["stages"].clone())?;
            let got_meta: Vec<Value> = meta.iter().flat_map(args_json).collect();
            check_eq("metaArgs", Value::Array(got_meta), exp["metaArgs"].clone())
        });
    }
    for (i, c) in cases(&data, "flagsUsed").iter().enumerate() {
        report.run(format!("misc/flagsUsed[{i}]"), || {
            let inst = first(&s(&c["dockerfile"]))?.map_err(|e| e.to_string())?;
            let Instruction::Command(cmd) = inst else {
                return Err("not a command".into());
            };
            let exp = &c["expected"];
            check_eq(
                "instruction",
                cmd.name().to_uppercase(),
                s(&exp["instruction"]),
            )?;
            let Command::Run(run) = cmd else {
                return Err("not a RUN".into());
            };
            check_eq("flagsUsed", json!(run.flags_used), exp["flagsUsed"].clone())
        });
    }

    report.finish();
}
