//! Golden tests of `--progress=plain`: exact text for whole builds scripted event by event.

#![allow(clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use common::{Script, arc, clock};
use kiln_progress::PlainPrinter;

type Plain = PlainPrinter<Vec<u8>>;

fn plain() -> Script<Plain> {
    let c = clock();
    let p = PlainPrinter::new(Vec::new(), arc(&c))
        .with_description("building with \"default\" instance using docker driver");
    Script::new(c, p)
}

fn output(s: Script<Plain>) -> String {
    String::from_utf8(s.printer.into_inner()).unwrap()
}

const DEF: &str = "sha256:def";
const META: &str = "sha256:meta";
const IGNORE: &str = "sha256:ignore";
const FROM: &str = "sha256:from";
const CTX: &str = "sha256:ctx";
const COPY: &str = "sha256:copy";
const RUN: &str = "sha256:run";
const EXPORT: &str = "sha256:export";

const FROM_NAME: &str = "[1/3] FROM docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79";
const RESOLVE: &str = "resolve docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79";

/// The steps every build starts with.
fn preamble(s: &mut Script<Plain>) {
    s.start(DEF, "[internal] load build definition from Dockerfile", 0)
        .status(DEF, "transferring dockerfile:", 87, 0, 0, 5, true)
        .complete(DEF, 10)
        .refresh()
        .start(
            META,
            "[internal] load metadata for docker.io/library/busybox:latest",
            12,
        )
        .complete(META, 420)
        .start(IGNORE, "[internal] load .dockerignore", 421)
        .status(IGNORE, "transferring context:", 2, 0, 421, 423, true)
        .complete(IGNORE, 425)
        .refresh();
}

fn export(s: &mut Script<Plain>, from_ms: u64) {
    let f = from_ms;
    s.start(EXPORT, "exporting to image", f)
        .status(EXPORT, "exporting layers", 0, 0, f, f, false)
        .refresh()
        .status(EXPORT, "exporting layers", 0, 0, f, f + 120, true)
        .status(
            EXPORT,
            "writing image sha256:6ab27b9e27b38cb2636ee6196275c47b4e121aaba6729cc7a2f9c385a0b0c45d",
            0,
            0,
            f + 121,
            f + 122,
            true,
        )
        .status(
            EXPORT,
            "naming to docker.io/library/app:latest",
            0,
            0,
            f + 123,
            f + 124,
            true,
        )
        .complete(EXPORT, f + 125)
        .refresh();
}

#[test]
fn cached_build() {
    let mut s = plain();
    preamble(&mut s);
    s.start(FROM, FROM_NAME, 430)
        .status(FROM, RESOLVE, 0, 0, 430, 431, true)
        .complete(FROM, 432)
        .start(CTX, "[internal] load build context", 430)
        .status(CTX, "transferring context:", 58, 0, 430, 436, true)
        .complete(CTX, 437)
        .refresh()
        .cached(COPY, "[2/3] COPY app.sh /app.sh", 440)
        .cached(RUN, "[3/3] RUN chmod +x /app.sh", 440)
        .refresh();
    export(&mut s, 450);
    s.done();
    assert_eq!(
        output(s),
        r#"#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 87B done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 DONE 0.4s

#3 [internal] load .dockerignore
#3 transferring context: 2B done
#3 DONE 0.0s

#4 [1/3] FROM docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79
#4 resolve docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79 done
#4 DONE 0.0s

#5 [internal] load build context
#5 transferring context: 58B done
#5 DONE 0.0s

#6 [2/3] COPY app.sh /app.sh
#6 CACHED

#7 [3/3] RUN chmod +x /app.sh
#7 CACHED

#8 exporting to image
#8 exporting layers
#8 exporting layers 0.1s done
#8 writing image sha256:6ab27b9e27b38cb2636ee6196275c47b4e121aaba6729cc7a2f9c385a0b0c45d done
#8 naming to docker.io/library/app:latest done
#8 DONE 0.1s
"#
    );
}

#[test]
fn fresh_build_with_run_output() {
    let mut s = plain();
    preamble(&mut s);
    s.start(FROM, FROM_NAME, 430)
        .status(FROM, RESOLVE, 0, 0, 430, 431, true)
        .complete(FROM, 432)
        .refresh()
        .start(
            RUN,
            "[2/3] RUN echo hello && printf 'no newline' && echo ' end'",
            500,
        )
        .log(RUN, 512, "hello\n")
        .log(RUN, 530, "no newline")
        .refresh()
        .log(RUN, 531, " end\n")
        .log(RUN, 11_000, "late line\nlast\n")
        .complete(RUN, 11_300)
        .refresh();
    export(&mut s, 11_400);
    s.done();
    assert_eq!(
        output(s),
        r#"#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 87B done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 DONE 0.4s

#3 [internal] load .dockerignore
#3 transferring context: 2B done
#3 DONE 0.0s

#4 [1/3] FROM docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79
#4 resolve docker.io/library/busybox:latest@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79 done
#4 DONE 0.0s

#5 [2/3] RUN echo hello && printf 'no newline' && echo ' end'
#5 0.012 hello
#5 0.030 no newline end
#5 10.50 late line
#5 10.50 last
#5 DONE 10.8s

#6 exporting to image
#6 exporting layers
#6 exporting layers 0.1s done
#6 writing image sha256:6ab27b9e27b38cb2636ee6196275c47b4e121aaba6729cc7a2f9c385a0b0c45d done
#6 naming to docker.io/library/app:latest done
#6 DONE 0.1s
"#
    );
}

#[test]
fn failing_run_prints_error_block() {
    let mut s = plain();
    preamble(&mut s);
    s.start(FROM, FROM_NAME, 430)
        .complete(FROM, 432)
        .refresh()
        .start(RUN, "[2/2] RUN echo building; echo oops >&2; exit 3", 500);
    for i in 0..12 {
        s.log(RUN, 510 + i, &format!("line {i}\n"));
    }
    s.log(RUN, 600, "oops\n")
        .fail(
            RUN,
            700,
            "process \"/bin/sh -c echo building; echo oops >&2; exit 3\" did not complete successfully: exit code: 3",
        )
        .done();
    let out = output(s);
    let tail = out.split("#5 [2/2]").nth(1).unwrap();
    assert_eq!(
        tail,
        r#" RUN echo building; echo oops >&2; exit 3
#5 0.010 line 0
#5 0.011 line 1
#5 0.012 line 2
#5 0.013 line 3
#5 0.014 line 4
#5 0.015 line 5
#5 0.016 line 6
#5 0.017 line 7
#5 0.018 line 8
#5 0.019 line 9
#5 0.020 line 10
#5 0.021 line 11
#5 0.100 oops
#5 ERROR: process "/bin/sh -c echo building; echo oops >&2; exit 3" did not complete successfully: exit code: 3
------
 > [2/2] RUN echo building; echo oops >&2; exit 3:
0.013 line 3
0.014 line 4
0.015 line 5
0.016 line 6
0.017 line 7
0.018 line 8
0.019 line 9
0.020 line 10
0.021 line 11
0.100 oops
------
"#
    );
}

#[test]
fn pull_with_byte_progress() {
    let mut s = plain();
    let layer = "sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe";
    s.start(FROM, "[1/1] FROM docker.io/library/busybox:latest", 0)
        .status(
            FROM,
            "resolve docker.io/library/busybox:latest",
            0,
            0,
            0,
            300,
            true,
        )
        .refresh();
    // Started, then small moves (below 5 %) are not printed until 5 s pass.
    s.now(400)
        .status(FROM, layer, 0, 2_155_000, 400, 400, false)
        .refresh()
        .now(500)
        .status(FROM, layer, 50_000, 2_155_000, 400, 500, false)
        .refresh()
        .now(900)
        .status(FROM, layer, 1_048_576, 2_155_000, 400, 900, false)
        .refresh()
        .now(1000)
        .status(FROM, layer, 1_100_000, 2_155_000, 400, 1000, false)
        .refresh()
        .now(6000)
        .status(FROM, layer, 1_150_000, 2_155_000, 400, 6000, false)
        .refresh()
        .now(6500)
        .status(FROM, layer, 2_155_000, 2_155_000, 400, 6500, true)
        .status(
            FROM,
            &format!("extracting {layer}"),
            0,
            0,
            6500,
            6600,
            false,
        )
        .refresh()
        .status(FROM, &format!("extracting {layer}"), 0, 0, 6500, 6800, true)
        .complete(FROM, 6800)
        .done();
    assert_eq!(
        output(s),
        r#"#0 building with "default" instance using docker driver

#1 [1/1] FROM docker.io/library/busybox:latest
#1 resolve docker.io/library/busybox:latest 0.3s done
#1 sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 0B / 2.15MB
#1 sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 1.05MB / 2.15MB 0.5s
#1 sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 1.15MB / 2.15MB 5.6s
#1 sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 2.15MB / 2.15MB 6.1s done
#1 extracting sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 0.1s
#1 extracting sha256:9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe 0.3s done
#1 DONE 6.8s
"#
    );
}

#[test]
fn interleaved_parallel_vertices() {
    let c = clock();
    let p = PlainPrinter::new(Vec::new(), arc(&c));
    let mut s = Script::new(c, p);
    let a = "sha256:a";
    let b = "sha256:b";
    s.start(a, "[stage-a 2/2] RUN build-a", 0)
        .start(b, "[stage-b 2/2] RUN build-b", 0)
        .log(a, 100, "a1\n")
        .log(b, 100, "b1\n")
        .now(100)
        .refresh();
    // a is current and keeps the output while b waits less than the fair share.
    s.log(a, 1000, "a2\n")
        .log(b, 1000, "b2\n")
        .now(1000)
        .refresh();
    // After 10 s without printing, b's output is shown.
    s.log(a, 11_000, "a3\n")
        .log(b, 11_000, "b3 partial")
        .now(11_000)
        .refresh();
    // b's partial line is finished later under a repeated header.
    s.log(a, 11_500, "a4\n")
        .now(11_500)
        .refresh()
        .log(b, 12_000, " rest\n")
        .complete(b, 12_100)
        .now(12_100)
        .refresh()
        .complete(a, 13_000)
        .now(13_000)
        .done();
    assert_eq!(
        output(s),
        "#1 [stage-a 2/2] RUN build-a
#1 0.100 a1
#1 1.000 a2
#1 11.00 a3
#1 ...

#2 [stage-b 2/2] RUN build-b
#2 0.100 b1
#2 1.000 b2
#2 11.00 b3 partial
#2 ...

#1 [stage-a 2/2] RUN build-a
#1 11.50 a4
#1 ...

#2 [stage-b 2/2] RUN build-b
#2 11.00 b3 partial rest
#2 DONE 12.1s

#1 [stage-a 2/2] RUN build-a
#1 DONE 13.0s
"
    );
}

#[test]
fn names_are_cut_when_asked() {
    let c = clock();
    let p = PlainPrinter::new(Vec::new(), arc(&c)).with_name_limit(Some(12));
    let mut s = Script::new(c, p);
    s.cached(RUN, "[2/2] RUN échoes everything", 0)
        .cached(COPY, "[1/2] COPY a b", 0)
        .done();
    assert_eq!(
        output(s),
        "#1 [2/2] RUN \u{e9}...\n#1 CACHED\n\n#2 [1/2] COPY a...\n#2 CACHED\n"
    );
}
