//! `--call` (and `--check`): which frontend method a build evaluates
//! (`check`, `outline,format=json`, `targets,ignorestatus=true`), parsed as buildx's
//! `ParseCallFunc`.

use kiln_subrequests::{CallKind, CallRequest, OutputFormat};

use super::{ValueError, csv, parse_go_bool};

/// Parses one `--call` value. `Ok(None)` means a normal build (`build`, the default).
pub fn parse_call(value: &str) -> Result<Option<CallRequest>, ValueError> {
    if value.is_empty() {
        return Ok(None);
    }
    let fields = csv::fields(value)?;
    let mut name: Option<&str> = None;
    let mut format = OutputFormat::Text;
    let mut ignore_status = false;
    for field in &fields {
        match field.split_once('=') {
            Some(("format", v)) => {
                format = match v {
                    "json" => OutputFormat::Json,
                    "" | "text" => OutputFormat::Text,
                    other => {
                        return Err(ValueError(format!(
                            "invalid format {other:?} (supported: text, json)"
                        )));
                    }
                };
            }
            Some(("ignorestatus", v)) => {
                ignore_status = parse_go_bool(v)
                    .ok_or_else(|| ValueError(format!("invalid ignorestatus print value: {v}")))?;
            }
            Some(_) => return Err(ValueError(format!("invalid print field: {field}"))),
            None => {
                if name.is_some() {
                    return Err(ValueError(format!("invalid print value: {value}")));
                }
                name = Some(field);
            }
        }
    }
    let kind = match name.unwrap_or("build") {
        "build" => return Ok(None),
        // `lint` is the subrequest's real name; `check` is the user-facing alias.
        "check" | "lint" => CallKind::Check,
        "outline" => CallKind::Outline,
        "targets" => CallKind::Targets,
        other => {
            return Err(ValueError(format!(
                "unknown method {other:?} (supported: build, check, outline, targets)"
            )));
        }
    };
    Ok(Some(CallRequest {
        kind,
        format,
        ignore_status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(s: &str) -> CallRequest {
        parse_call(s).unwrap().unwrap()
    }

    #[test]
    fn methods() {
        assert_eq!(parse_call("build").unwrap(), None);
        assert_eq!(parse_call("").unwrap(), None);
        assert_eq!(call("check").kind, CallKind::Check);
        assert_eq!(call("lint").kind, CallKind::Check);
        assert_eq!(call("outline").kind, CallKind::Outline);
        assert_eq!(call("targets").kind, CallKind::Targets);
    }

    #[test]
    fn options() {
        let c = call("outline,format=json");
        assert_eq!(c.format, OutputFormat::Json);
        assert!(!c.ignore_status);
        let c = call("check,ignorestatus=true");
        assert_eq!(c.format, OutputFormat::Text);
        assert!(c.ignore_status);
        // Options may come first.
        assert_eq!(call("format=json,targets").kind, CallKind::Targets);
    }

    #[test]
    fn errors() {
        let e = |s| parse_call(s).unwrap_err().to_string();
        assert_eq!(e("check,outline"), "invalid print value: check,outline");
        assert_eq!(e("check,color=red"), "invalid print field: color=red");
        assert_eq!(
            e("check,ignorestatus=maybe"),
            "invalid ignorestatus print value: maybe"
        );
        assert!(e("frobnicate").starts_with("unknown method \"frobnicate\""));
        assert!(e("outline,format=yaml").starts_with("invalid format \"yaml\""));
    }
}
