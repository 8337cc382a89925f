//! Fuzz target: arbitrary bytes through the whole Dockerfile frontend — parser, directives,
//! typed instructions, build checks (lint), outline and targets — which must return errors,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kiln_dockerfile_parser::detect_syntax(data);
    let _ = kiln_dockerfile_parser::parse_directive("check", data);
    if let Ok(result) = kiln_dockerfile_parser::parse(data) {
        let _ = kiln_dockerfile_parser::dump(&result.ast);
        let _ = kiln_dockerfile::parse(&result.ast);
        for node in &result.ast.children {
            let _ = kiln_dockerfile::parse_instruction(node);
        }
    }
    let _ = kiln_lint::check(data, &kiln_lint::CheckOptions::default());
    let _ = kiln_lint::list_targets(data);
});
