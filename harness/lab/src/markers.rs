//! Solution regions: the comments that mark, in a solution's source, what the attendee writes.
//!
//! Two kinds of region, each a run of whole lines between marker comments:
//!
//! ```text
//! // lab:todo Give the call a fresh correlation id, send it, and wait for its reply.
//! ...the reference code...
//! // lab:end
//! ```
//! becomes `todo!("Give the call a fresh correlation id, ...")` in the exercise, indented like
//! the marker. The region must end its block (the `todo!()` becomes the block's value), so no
//! code after it turns unreachable.
//!
//! ```text
//! // lab:replace
//! ...the reference code...
//! // lab:with
//! // what the exercise gets instead, one comment line per line
//! // lab:end
//! ```
//! becomes the lines between `lab:with` and `lab:end` with their leading `// ` removed; with no
//! `lab:with` part the region simply disappears from the exercise.
//!
//! Rendering for the solution side (`cargo lab solve`, `cargo lab diff`) keeps the reference
//! code and drops the marker comments and the replacement text.

use std::fmt;

/// Which side of the pair to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// What the attendee starts from: regions replaced.
    Skeleton,
    /// The reference code, without the markers.
    Solution,
}

/// A source with its regions rendered, and the `todo!()` sentences the skeleton got.
#[derive(Debug, Default)]
pub struct Rendered {
    pub text: String,
    pub todos: Vec<String>,
}

/// A malformed region, with the 1-based line it was found on.
#[derive(Debug, PartialEq, Eq)]
pub struct MarkerError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for MarkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

enum State {
    Outside,
    Todo {
        indent: String,
        sentence: String,
        opened: usize,
    },
    Replace {
        opened: usize,
    },
    With {
        opened: usize,
    },
}

/// The directive on a marker line (`// lab:todo ...` -> `("todo", "...")`), if it is one.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line
        .trim_start()
        .strip_prefix("//")?
        .trim_start()
        .strip_prefix("lab:")?;
    let (word, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some((word, arg.trim()))
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Renders one source file for `side`.
pub fn render(source: &str, side: Side) -> Result<Rendered, MarkerError> {
    let mut out = Rendered::default();
    let mut state = State::Outside;
    // Line number of a todo region's end, until the next line of code shows it ends a block.
    let mut todo_ended: Option<usize> = None;
    let err = |line: usize, message: String| MarkerError { line, message };

    for (index, line) in source.lines().enumerate() {
        let number = index + 1;
        let marker = directive(line);
        if let Some(ended) = todo_ended {
            let code = line.trim();
            if !code.is_empty() && !code.starts_with("//") {
                if !code.starts_with('}') {
                    return Err(err(
                        ended,
                        "a lab:todo region must end its block: in the exercise it becomes the \
                         block's value, and code after a todo!() would be unreachable"
                            .into(),
                    ));
                }
                todo_ended = None;
            }
        }
        state = match (state, marker) {
            (State::Outside, None) => {
                push(&mut out.text, line);
                State::Outside
            }
            (State::Outside, Some(("todo", sentence))) => {
                if sentence.is_empty() {
                    return Err(err(
                        number,
                        "lab:todo needs a sentence that says what to do".into(),
                    ));
                }
                State::Todo {
                    indent: indent_of(line).to_string(),
                    sentence: sentence.to_string(),
                    opened: number,
                }
            }
            (State::Outside, Some(("replace", _))) => State::Replace { opened: number },
            (State::Outside, Some((word @ ("with" | "end"), _))) => {
                return Err(err(
                    number,
                    format!("lab:{word} without an open lab:todo or lab:replace"),
                ));
            }
            (
                State::Todo {
                    indent, sentence, ..
                },
                Some(("end", _)),
            ) => {
                if side == Side::Skeleton {
                    push(
                        &mut out.text,
                        &format!("{indent}todo!({})", todo_literal(&sentence)),
                    );
                    out.todos.push(sentence);
                    todo_ended = Some(number);
                }
                State::Outside
            }
            (State::Replace { opened }, Some(("with", _))) => State::With { opened },
            (State::Replace { .. } | State::With { .. }, Some(("end", _))) => State::Outside,
            (
                State::Todo { opened, .. } | State::Replace { opened } | State::With { opened },
                Some((word, _)),
            ) => {
                return Err(err(
                    number,
                    format!(
                        "lab:{word} inside the region opened on line {opened}; regions do not nest"
                    ),
                ));
            }
            (todo @ State::Todo { .. }, None) | (todo @ State::Replace { .. }, None) => {
                if side == Side::Solution {
                    push(&mut out.text, line);
                }
                todo
            }
            (State::With { opened }, None) => {
                let trimmed = line.trim_start();
                let Some(text) = trimmed.strip_prefix("//") else {
                    return Err(err(
                        number,
                        "between lab:with and lab:end every line must be a // comment".into(),
                    ));
                };
                if side == Side::Skeleton {
                    let text = text.strip_prefix(' ').unwrap_or(text);
                    if text.is_empty() {
                        push(&mut out.text, "");
                    } else {
                        push(&mut out.text, &format!("{}{text}", indent_of(line)));
                    }
                    collect_todos(text, &mut out.todos);
                }
                State::With { opened }
            }
            (State::Outside, Some((word, _))) => {
                return Err(err(
                    number,
                    format!(
                        "unknown marker lab:{word}; the markers are lab:todo, lab:replace, lab:with, lab:end"
                    ),
                ));
            }
        };
    }
    match state {
        State::Outside => Ok(out),
        State::Todo { opened, .. } | State::Replace { opened } | State::With { opened } => {
            Err(err(opened, "this region has no // lab:end".into()))
        }
    }
}

/// True if the source has any marker at all (used to tell maintainers about stray ones).
pub fn has_markers(source: &str) -> bool {
    source.lines().any(|l| directive(l).is_some())
}

fn push(text: &mut String, line: &str) {
    text.push_str(line);
    text.push('\n');
}

/// The sentence as the string literal of a `todo!()`: quoted and escaped, and with braces
/// doubled because `todo!` takes a format string.
fn todo_literal(sentence: &str) -> String {
    format!("{:?}", sentence.replace('{', "{{").replace('}', "}}"))
}

/// `todo!("...")` sentences written out in a replacement text, so `verify` knows them too.
fn collect_todos(text: &str, todos: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("todo!(\"") {
        let after = &rest[start + 7..];
        let Some(end) = after.find("\")") else { break };
        todos.push(
            after[..end]
                .replace("\\\"", "\"")
                .replace("{{", "{")
                .replace("}}", "}"),
        );
        rest = &after[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
//! Docs.
// lab:replace
// lab:with
// #![allow(unused)]
// lab:end
use std::fmt;

fn answer(x: u32) -> u32 {
    let y = x + 1;
    // lab:todo Return {the} \"answer\".
    y * 2
    // lab:end
}
";

    #[test]
    fn the_skeleton_gets_a_todo_and_the_replacement_text() {
        let rendered = render(SOURCE, Side::Skeleton).unwrap();
        assert_eq!(
            rendered.text,
            "//! Docs.\n#![allow(unused)]\nuse std::fmt;\n\nfn answer(x: u32) -> u32 {\n    let y = x + 1;\n    todo!(\"Return {{the}} \\\"answer\\\".\")\n}\n"
        );
        assert_eq!(rendered.todos, vec!["Return {the} \"answer\"."]);
    }

    #[test]
    fn the_solution_keeps_the_code_and_loses_the_markers() {
        let rendered = render(SOURCE, Side::Solution).unwrap();
        assert_eq!(
            rendered.text,
            "//! Docs.\nuse std::fmt;\n\nfn answer(x: u32) -> u32 {\n    let y = x + 1;\n    y * 2\n}\n"
        );
    }

    #[test]
    fn malformed_regions_are_reported_with_their_line() {
        let unclosed = "fn f() {\n    // lab:todo Do it.\n    1\n}\n";
        assert_eq!(render(unclosed, Side::Skeleton).unwrap_err().line, 2);
        let nested = "// lab:replace\n// lab:todo x\n// lab:end\n";
        assert!(
            render(nested, Side::Skeleton)
                .unwrap_err()
                .message
                .contains("do not nest")
        );
        let not_last = "fn f() {\n    // lab:todo Do it.\n    g();\n    // lab:end\n    h();\n}\n";
        let e = render(not_last, Side::Skeleton).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("must end its block"));
        let stray = "// lab:end\n";
        assert!(render(stray, Side::Solution).is_err());
        let bad_with = "// lab:replace\n// lab:with\nlet x = 1;\n// lab:end\n";
        assert!(
            render(bad_with, Side::Skeleton)
                .unwrap_err()
                .message
                .contains("comment")
        );
    }
}
