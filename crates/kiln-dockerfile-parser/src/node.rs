//! The AST types ([`Node`], [`Heredoc`], source positions, warnings) and the s-expression
//! dump that BuildKit's golden files use.

use crate::quote::{go_quote, go_quote_list};

/// A point in the Dockerfile. Lines are 1-based; `character` is 0 when unknown (the parser,
/// like BuildKit's, only tracks lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub character: usize,
}

/// A section of the Dockerfile, `start` and `end` inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

impl Range {
    /// The range covering whole lines `start..=end` (1-based). `end` below `start` is raised
    /// to `start`, as BuildKit does.
    pub fn lines(start: usize, end: usize) -> Range {
        Range {
            start: Position {
                line: start,
                character: 0,
            },
            end: Position {
                line: end.max(start),
                character: 0,
            },
        }
    }
}

/// A here-document attached to a `RUN`/`COPY`/`ADD` instruction (also inside `ONBUILD`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Heredoc {
    /// The delimiter word after quote removal (`<<'EOF'` → `EOF`).
    pub name: String,
    /// The raw body: every line with its line ending, the terminator line excluded. For
    /// `<<-` the leading tabs are *not* removed here (see [`crate::chomp_heredoc_content`]).
    pub content: String,
    /// False when any part of the delimiter was quoted: variables in the body must then not
    /// be expanded.
    pub expand: bool,
    /// True for the `<<-` form: leading tabs are stripped from the body when it is used.
    pub chomp: bool,
    /// The number written before `<<` (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
}

/// One node of the parse tree, shaped like BuildKit's `parser.Node`.
///
/// The root node has an empty `value` and the instructions as `children`. An instruction
/// node has the keyword in `value` **as written** (BuildKit keeps the case, e.g. `RUN` or
/// `run`; compare case-insensitively or use [`Node::keyword`]) and its arguments in `next`
/// (BuildKit's `Next` chain, flattened). An argument node has the argument in `value`; only
/// the argument of `ONBUILD` has a child: the nested instruction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Node {
    /// Instruction nodes: the keyword as written. Argument nodes: the argument text (quotes
    /// and escapes kept; they are removed later, during variable expansion).
    pub value: String,
    /// The arguments, in order (BuildKit's `Next` chain).
    pub next: Vec<Node>,
    /// Root: the instructions. `ONBUILD`'s argument: the nested instruction.
    pub children: Vec<Node>,
    /// Here-documents read after the instruction line, in the order they were declared.
    pub heredocs: Vec<Heredoc>,
    /// True when the arguments were given in exec (JSON array) form.
    pub json: bool,
    /// The instruction as written, continuation lines joined (escape + newline removed,
    /// comment and empty lines inside the continuation dropped).
    pub original: String,
    /// The `--flag[=value]` words given before the arguments, verbatim (unvalidated).
    pub flags: Vec<String>,
    /// First line of the instruction (1-based).
    pub start_line: usize,
    /// Last line of the instruction (1-based, inclusive; includes heredoc bodies).
    pub end_line: usize,
    /// The comment block directly above the instruction (text after `#`, trimmed), used
    /// for doc comments of stages and build arguments.
    pub prev_comment: Vec<String>,
}

impl Node {
    /// The keyword lowercased (`RUN` → `run`); for argument nodes the lowercased value.
    pub fn keyword(&self) -> String {
        self.value.to_lowercase()
    }

    /// The lines this node spans.
    pub fn location(&self) -> Range {
        Range::lines(self.start_line, self.end_line)
    }

    /// One single-line range per line of the node, like BuildKit's `Node.Location()`.
    pub fn location_lines(&self) -> Vec<Range> {
        let end = self.end_line.max(self.start_line);
        (self.start_line..=end)
            .map(|l| Range::lines(l, l))
            .collect()
    }

    /// The argument values along the `next` chain.
    pub fn args(&self) -> Vec<&str> {
        self.next.iter().map(|n| n.value.as_str()).collect()
    }
}

/// A non-fatal problem found while parsing (BuildKit's `parser.Warning`), e.g. an empty line
/// inside a line continuation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Warning {
    /// One-line message (`Empty continuation line found in: RUN ...`).
    pub short: String,
    /// Further explanation, one entry per line.
    pub detail: Vec<String>,
    /// Documentation URL.
    pub url: String,
    /// Where it was found.
    pub location: Range,
}

/// A successfully parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseResult {
    /// The root node: its `children` are the instructions (never empty).
    pub ast: Node,
    /// The escape character in effect (`\` or `` ` `` from the `# escape=` directive).
    pub escape_token: char,
    /// Warnings, in source order.
    pub warnings: Vec<Warning>,
}

/// The s-expression form of `node` used by BuildKit's parser golden files (`result`):
/// one line per instruction, e.g. `(copy ["--from=x"] "a" "b")`,
/// `(onbuild (run "echo test"))`. See the `parser` conformance README for the grammar.
pub fn dump(node: &Node) -> String {
    let mut s = node.value.to_lowercase();
    if !node.flags.is_empty() {
        s.push(' ');
        s.push_str(&go_quote_list(&node.flags));
    }
    for c in &node.children {
        s.push('(');
        s.push_str(&dump(c));
        s.push_str(")\n");
    }
    for n in &node.next {
        s.push(' ');
        if n.children.is_empty() {
            s.push_str(&go_quote(&n.value));
        } else {
            s.push_str(&dump(n));
        }
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_nested() {
        let run = Node {
            value: "RUN".into(),
            next: vec![Node {
                value: "echo \"hi\"".into(),
                ..Node::default()
            }],
            ..Node::default()
        };
        let onbuild = Node {
            value: "ONBUILD".into(),
            next: vec![Node {
                children: vec![run],
                ..Node::default()
            }],
            flags: vec!["--x=y".into()],
            ..Node::default()
        };
        let root = Node {
            children: vec![onbuild],
            ..Node::default()
        };
        assert_eq!(dump(&root), r#"(onbuild ["--x=y"] (run "echo \"hi\""))"#);
    }

    #[test]
    fn ranges() {
        let r = Range::lines(5, 3);
        assert_eq!(r.start.line, 5);
        assert_eq!(r.end.line, 5);
        let n = Node {
            start_line: 2,
            end_line: 4,
            ..Node::default()
        };
        assert_eq!(n.location_lines().len(), 3);
    }
}
