//! Runs the `parser` conformance suite (BuildKit's parser test data) against this crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use kiln_dockerfile_parser::{
    DirectiveParser, Heredoc, JsonArrayError, chomp_heredoc_content, directives, dump,
    heredocs_from_line, parse, parse_heredoc, parse_json_array, parse_name_val, parse_words,
};
use serde_json::Value;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default()
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

fn sorted_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn heredoc_json(h: &Heredoc) -> Value {
    serde_json::json!({
        "name": h.name,
        "content": h.content,
        "expand": h.expand,
        "chomp": h.chomp,
        "fileDescriptor": h.file_descriptor,
    })
}

#[test]
fn conformance_parser() {
    let Some(dir) = kiln_testkit::suite_dir("parser") else {
        return;
    };
    let mut report = kiln_testkit::Report::new("parser");

    // 1. Positive golden files.
    for case in sorted_dirs(&dir.join("testfiles")) {
        let name = format!(
            "testfiles/{}",
            case.file_name().unwrap_or_default().to_string_lossy()
        );
        report.run(&name, || {
            let src = std::fs::read(case.join("Dockerfile")).map_err(|e| e.to_string())?;
            let want = std::fs::read_to_string(case.join("result")).map_err(|e| e.to_string())?;
            let res = parse(&src).map_err(|e| format!("parse failed: {e}"))?;
            check_eq("dump", dump(&res.ast) + "\n", want)
        });
    }

    // 2. Negative files.
    for case in sorted_dirs(&dir.join("testfiles-negative")) {
        let name = format!(
            "testfiles-negative/{}",
            case.file_name().unwrap_or_default().to_string_lossy()
        );
        report.run(&name, || {
            let src = std::fs::read(case.join("Dockerfile")).map_err(|e| e.to_string())?;
            match parse(&src) {
                Ok(r) => Err(format!("parsed, want error: {}", dump(&r.ast))),
                Err(_) => Ok(()),
            }
        });
    }

    // 3. Line numbers.
    let data = kiln_testkit::load_json(&dir, "line-numbers.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("line-numbers[{i}]"), || {
            let src = std::fs::read(dir.join(s(&c["file"]))).map_err(|e| e.to_string())?;
            let ast = parse(&src).map_err(|e| e.to_string())?.ast;
            let exp = &c["expected"];
            let pair = |v: &Value| -> Vec<u64> {
                v.as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default()
            };
            check_eq(
                "root",
                vec![ast.start_line as u64, ast.end_line as u64],
                pair(&exp["root"]),
            )?;
            check_eq(
                "childCount",
                ast.children.len() as u64,
                exp["childCount"].as_u64().unwrap_or(0),
            )?;
            for (n, want) in ast.children.iter().zip(cases(exp, "children")) {
                check_eq(
                    "child",
                    vec![n.start_line as u64, n.end_line as u64],
                    pair(want),
                )?;
            }
            Ok(())
        });
    }

    // 4. Word splitting.
    let data = kiln_testkit::load_json(&dir, "parse-words.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("parse-words[{i}]"), || {
            let esc = s(&c["escapeToken"]).chars().next().unwrap_or('\\');
            check_eq(
                "words",
                parse_words(&s(&c["input"]), esc),
                strings(&c["expected"]),
            )
        });
    }

    // 5. Exec-form JSON.
    let data = kiln_testkit::load_json(&dir, "json-arrays.json");
    for (i, c) in cases(&data, "cases").iter().enumerate() {
        report.run(format!("json-arrays[{i}]"), || {
            let got = parse_json_array(&s(&c["input"]));
            if c.get("expectedError").is_some() {
                check_eq("error", got, Err(JsonArrayError::NotStringArray))
            } else {
                check_eq("values", got, Ok(strings(&c["expected"])))
            }
        });
    }

    // 6. Key/value pairs.
    let data = kiln_testkit::load_json(&dir, "name-val.json");
    for c in cases(&data, "cases") {
        report.run(format!("name-val/{}", s(&c["name"])), || {
            let got = parse_name_val(&s(&c["input"]), &s(&c["instruction"]), '\\');
            match c.get("expectedError") {
                Some(want) => match got {
                    Ok(n) => Err(format!("got {} nodes, want error", n.len())),
                    Err(e) if e.to_string().contains(&s(want)) => Ok(()),
                    Err(e) => Err(format!("error {e:?} does not contain {want}")),
                },
                None => {
                    let nodes = got.map_err(|e| e.to_string())?;
                    let vals: Vec<String> = nodes.into_iter().map(|n| n.value).collect();
                    check_eq("nodes", vals, strings(&c["expectedNodes"]))
                }
            }
        });
    }

    // 7. Directives.
    let data = kiln_testkit::load_json(&dir, "directives.json");
    for c in cases(&data, "parseAll") {
        report.run(format!("directives/parseAll/{}", s(&c["name"])), || {
            let got = DirectiveParser::new()
                .parse_all(s(&c["input"]).as_bytes())
                .map_err(|e| e.to_string())?;
            let got: Vec<(String, String)> = got.into_iter().map(|d| (d.name, d.value)).collect();
            let want: Vec<(String, String)> = cases(c, "expected")
                .iter()
                .map(|d| (s(&d["name"]), s(&d["value"])))
                .collect();
            check_eq("directives", got, want)
        });
    }
    let check_detected = |found: Option<directives::DetectedDirective>, exp: &Value| {
        check_eq(
            "found",
            found.is_some(),
            exp["found"].as_bool().unwrap_or(false),
        )?;
        let (r, cmd, start, end) = match &found {
            Some(d) => (
                d.reference.clone(),
                d.cmdline.clone(),
                d.location.start.line,
                d.location.end.line,
            ),
            None => (String::new(), String::new(), 0, 0),
        };
        if let Some(v) = exp.get("ref") {
            check_eq("ref", r, s(v))?;
        }
        if let Some(v) = exp.get("cmdline") {
            check_eq("cmdline", cmd, s(v))?;
        }
        if let Some(v) = exp.get("startLine") {
            check_eq("startLine", start as u64, v.as_u64().unwrap_or(0))?;
        }
        if let Some(v) = exp.get("endLine") {
            check_eq("endLine", end as u64, v.as_u64().unwrap_or(0))?;
        }
        Ok(())
    };
    for c in cases(&data, "detectSyntax") {
        report.run(format!("directives/detectSyntax/{}", s(&c["name"])), || {
            check_detected(
                directives::detect_syntax(s(&c["input"]).as_bytes()),
                &c["expected"],
            )
        });
    }
    let pd = &data["parseDirective"];
    let key = s(&pd["directiveName"]);
    for c in cases(pd, "cases") {
        report.run(
            format!("directives/parseDirective/{}", s(&c["name"])),
            || {
                check_detected(
                    directives::parse_directive(&key, s(&c["input"]).as_bytes()),
                    &c["expected"],
                )
            },
        );
    }

    // 8. Heredocs.
    let data = kiln_testkit::load_json(&dir, "heredocs.json");
    let full = &data["parse"];
    let parsed = parse(s(&full["dockerfile"]).as_bytes());
    let children = cases(full, "children");
    for c in children {
        let idx = c["childIndex"].as_u64().unwrap_or(0) as usize;
        report.run(format!("heredocs/parse/child{idx}"), || {
            let ast = &parsed.as_ref().map_err(|e| e.to_string())?.ast;
            check_eq("children", ast.children.len(), children.len() + 1)?;
            let node = ast.children.get(idx).ok_or("no such child")?;
            let got: Vec<Value> = node.heredocs.iter().map(heredoc_json).collect();
            check_eq("heredocs", Value::Array(got), c["heredocs"].clone())
        });
    }
    let jf = &data["jsonForm"];
    report.run("heredocs/jsonForm", || {
        let ast = parse(s(&jf["dockerfile"]).as_bytes())
            .map_err(|e| e.to_string())?
            .ast;
        for i in cases(jf, "childrenWithoutHeredocs") {
            let node = ast
                .children
                .get(i.as_u64().unwrap_or(0) as usize)
                .ok_or("no such child")?;
            check_eq("heredocs", node.heredocs.len(), 0)?;
        }
        Ok(())
    });
    for (i, c) in cases(&data, "chomp").iter().enumerate() {
        report.run(format!("heredocs/chomp[{i}]"), || {
            check_eq(
                "chomp",
                chomp_heredoc_content(&s(&c["input"])),
                s(&c["expected"]),
            )
        });
    }
    for c in cases(&data, "parseHeredoc") {
        let input = s(&c["input"]);
        report.run(format!("heredocs/parseHeredoc/{input:?}"), || {
            let got = parse_heredoc(&input);
            if c.get("expectedError").is_some() {
                return match got {
                    Err(_) => Ok(()),
                    Ok(h) => Err(format!("got {h:?}, want error")),
                };
            }
            let got = got.map_err(|e| e.to_string())?.map(|h| h.name);
            let want = c["expected"].get("name").map(s);
            check_eq("name", got, want)
        });
    }
    for c in cases(&data, "fromLine") {
        let line = s(&c["line"]);
        report.run(format!("heredocs/fromLine/{line:?}"), || {
            let got: Vec<String> = heredocs_from_line(&line)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|h| h.name)
                .collect();
            let want = strings(&c["expectedNames"]);
            if c.get("note").is_some() {
                // Upstream only checks that what was found is a prefix of the expectation.
                if want.starts_with(&got) {
                    Ok(())
                } else {
                    Err(format!("{got:?} is not a prefix of {want:?}"))
                }
            } else {
                check_eq("names", got, want)
            }
        });
    }

    // 9. Warnings.
    let data = kiln_testkit::load_json(&dir, "warnings.json");
    for c in cases(&data, "cases") {
        report.run(format!("warnings/{}", s(&c["name"])), || {
            let res = parse(s(&c["dockerfile"]).as_bytes()).map_err(|e| e.to_string())?;
            let exp = &c["expected"];
            check_eq(
                "count",
                res.warnings.len() as u64,
                exp["warningCount"].as_u64().unwrap_or(0),
            )?;
            for (w, e) in res.warnings.iter().zip(cases(exp, "warnings")) {
                for sub in strings(&e["shortContains"]) {
                    if !w.short.contains(&sub) {
                        return Err(format!("short {:?} lacks {sub:?}", w.short));
                    }
                }
                for sub in strings(&e["detailContains"]) {
                    let detail = w.detail.first().cloned().unwrap_or_default();
                    if !detail.contains(&sub) {
                        return Err(format!("detail {detail:?} lacks {sub:?}"));
                    }
                }
            }
            Ok(())
        });
    }

    // 10. Errors.
    let data = kiln_testkit::load_json(&dir, "errors.json");
    for c in cases(&data, "cases") {
        report.run(format!("errors/{}", s(&c["name"])), || {
            let t = &c["inputTemplate"];
            let n = t["repeatCount"].as_u64().unwrap_or(0) as usize;
            let input = s(&t["prefix"]) + &s(&t["repeatChar"]).repeat(n) + &s(&t["suffix"]);
            match parse(input.as_bytes()) {
                Ok(_) => Err("parsed, want error".to_string()),
                Err(e) => check_eq("error", e.to_string(), s(&c["expectedError"])),
            }
        });
    }

    report.finish();
}
