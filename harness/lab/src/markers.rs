//! Solution regions: the comments that mark, in a solution's source, what the attendee writes.
//!
//! Two kinds of region, each a run of whole lines between marker comments:
//!
//! ```text
//! // lab:todo Send the call under a fresh correlation id and wait for its reply.
//! // The table of pending calls remembers who waits for which id; a reply nobody
//! // waits for any more is dropped.
//! ...the reference code...
//! // lab:end
//! ```
//! becomes, indented like the marker, the comment lines that follow the marker (its notes,
//! up to the first line that is not a `//` comment) and then
//! `todo!("Send the call under a fresh correlation id and wait for its reply.")`. The sentence
//! is what a failing test shows, so it stays on one line: the marker line and the `todo!()`
//! line must each fit in [`MAX_COLUMNS`]; the notes say the rest. The region must end its
//! block (the `todo!()` becomes the block's value), so no code after it turns unreachable.
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
//! A skeleton file with a `todo!()` gets [`PREAMBLE`] after its module comment: a `todo!()`
//! leaves arguments, imports and helpers unused, and a skeleton must compile without warnings.
//! The solution never writes it.
//!
//! Rendering for the solution side (`cargo lab solve`, `cargo lab diff`) keeps the reference
//! code and drops the marker comments, the notes and the replacement text.

use std::fmt;

/// The widest a marker line or a generated `todo!()` line may be: rustfmt's line width, so
/// the sentence reads without scrolling in the solution and in the exercise.
pub const MAX_COLUMNS: usize = 100;

/// What every skeleton file with a `todo!()` opens with, after its module comment.
pub const PREAMBLE: &str = "\
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]";

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
    /// Each `lab:todo` region as the 1-based lines of its marker and its `lab:end`: what
    /// the attendee writes lies strictly between them (`cargo lab mutants` reads this).
    pub regions: Vec<(usize, usize)>,
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
    Todo(Todo),
    Replace { opened: usize },
    With { opened: usize },
}

/// An open `lab:todo` region.
struct Todo {
    indent: String,
    sentence: String,
    /// The comment lines right below the marker, without their `//`.
    notes: Vec<String>,
    /// Still reading notes: no line of reference code has come yet.
    in_notes: bool,
    opened: usize,
}

impl Todo {
    /// The notes as comment lines at the marker's indent, their common indent removed, so
    /// `//   hanging` and `// flush` notes both come out as `// text`.
    fn note_lines(&self) -> impl Iterator<Item = String> + '_ {
        let common = self
            .notes
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.len() - n.trim_start().len())
            .min()
            .unwrap_or(0);
        self.notes.iter().map(move |note| match note.get(common..) {
            Some(text) if !text.trim().is_empty() => {
                format!("{}// {}", self.indent, text.trim_end())
            }
            _ => format!("{}//", self.indent),
        })
    }
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

/// The text of a plain `//` comment line (not `///` or `//!` docs), if the line is one.
fn note(line: &str) -> Option<&str> {
    let text = line.trim_start().strip_prefix("//")?;
    (!text.starts_with('/') && !text.starts_with('!')).then_some(text)
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

fn columns(line: &str) -> usize {
    line.chars().count()
}

/// Renders one source file for `side`.
pub fn render(source: &str, side: Side) -> Result<Rendered, MarkerError> {
    let mut out = Rendered::default();
    let mut state = State::Outside;
    // Line number of a todo region's end, until the next line of code shows it ends a block.
    let mut todo_ended: Option<usize> = None;
    // A replacement text that writes an `#![allow(...)]`: the preamble's job since it exists.
    let mut written_allow: Option<usize> = None;
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
                let indent = indent_of(line);
                let generated =
                    columns(indent) + columns(&todo_literal(sentence)) + "todo!()".len();
                let widest = columns(line).max(generated);
                if widest > MAX_COLUMNS {
                    return Err(err(
                        number,
                        format!(
                            "the lab:todo sentence makes a {widest}-column line; keep it within \
                             {MAX_COLUMNS} (a test shows it on one line) and say the rest on `//` \
                             lines right below the marker, which the exercise gets as a comment"
                        ),
                    ));
                }
                State::Todo(Todo {
                    indent: indent.to_string(),
                    sentence: sentence.to_string(),
                    notes: Vec::new(),
                    in_notes: true,
                    opened: number,
                })
            }
            (State::Outside, Some(("replace", _))) => State::Replace { opened: number },
            (State::Outside, Some((word @ ("with" | "end"), _))) => {
                return Err(err(
                    number,
                    format!("lab:{word} without an open lab:todo or lab:replace"),
                ));
            }
            (State::Todo(todo), Some(("end", _))) => {
                out.regions.push((todo.opened, number));
                if side == Side::Skeleton {
                    for note in todo.note_lines() {
                        push(&mut out.text, &note);
                    }
                    push(
                        &mut out.text,
                        &format!("{}todo!({})", todo.indent, todo_literal(&todo.sentence)),
                    );
                    out.todos.push(todo.sentence);
                    todo_ended = Some(number);
                }
                State::Outside
            }
            (State::Replace { opened }, Some(("with", _))) => State::With { opened },
            (State::Replace { .. } | State::With { .. }, Some(("end", _))) => State::Outside,
            (
                State::Todo(Todo { opened, .. })
                | State::Replace { opened }
                | State::With { opened },
                Some((word, _)),
            ) => {
                return Err(err(
                    number,
                    format!(
                        "lab:{word} inside the region opened on line {opened}; regions do not nest"
                    ),
                ));
            }
            (State::Todo(mut todo), None) => {
                match note(line).filter(|_| todo.in_notes) {
                    Some(text) => todo.notes.push(text.to_string()),
                    None => {
                        todo.in_notes = false;
                        if side == Side::Solution {
                            push(&mut out.text, line);
                        }
                    }
                }
                State::Todo(todo)
            }
            (replace @ State::Replace { .. }, None) => {
                if side == Side::Solution {
                    push(&mut out.text, line);
                }
                replace
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
                    if text.trim_start().starts_with("#![allow(") {
                        written_allow.get_or_insert(number);
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
    if let State::Todo(Todo { opened, .. }) | State::Replace { opened } | State::With { opened } =
        state
    {
        return Err(err(opened, "this region has no // lab:end".into()));
    }
    if side == Side::Skeleton && !out.todos.is_empty() {
        if let Some(line) = written_allow {
            return Err(err(
                line,
                "generation writes the lint-allow preamble into every file with a todo!(); \
                 drop this #![allow(...)] from the solution"
                    .into(),
            ));
        }
        out.text = with_preamble(&out.text);
    }
    Ok(out)
}

/// `text` with [`PREAMBLE`] after its module comment (the leading `//!` lines), where inner
/// attributes may stand, and a blank line before the code that follows.
fn with_preamble(text: &str) -> String {
    let doc: usize = text
        .split_inclusive('\n')
        .take_while(|l| l.trim_start().starts_with("//!"))
        .map(str::len)
        .sum();
    let (head, rest) = text.split_at(doc);
    let gap = if rest.starts_with('\n') { "" } else { "\n" };
    format!("{head}{PREAMBLE}\n{gap}{rest}")
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
use std::fmt;
// lab:with
// use std::fmt as _;
// lab:end

fn answer(x: u32) -> u32 {
    let y = x + 1;
    // lab:todo Return {the} \"answer\".
    //   Twice `y`, that is;
    //
    //   not thrice.
    let z = y;
    // a reference comment, after the code started
    z * 2
    // lab:end
}
";

    #[test]
    fn the_skeleton_gets_the_preamble_a_todo_its_notes_and_the_replacement_text() {
        let rendered = render(SOURCE, Side::Skeleton).unwrap();
        assert_eq!(
            rendered.text,
            format!(
                "//! Docs.\n{PREAMBLE}\n\nuse std::fmt as _;\n\nfn answer(x: u32) -> u32 {{\n    let y = x + 1;\n    // Twice `y`, that is;\n    //\n    // not thrice.\n    todo!(\"Return {{{{the}}}} \\\"answer\\\".\")\n}}\n"
            )
        );
        assert_eq!(rendered.todos, vec!["Return {the} \"answer\"."]);
    }

    #[test]
    fn the_solution_keeps_the_code_and_loses_the_markers_and_notes() {
        let rendered = render(SOURCE, Side::Solution).unwrap();
        assert_eq!(
            rendered.text,
            "//! Docs.\nuse std::fmt;\n\nfn answer(x: u32) -> u32 {\n    let y = x + 1;\n    let z = y;\n    // a reference comment, after the code started\n    z * 2\n}\n"
        );
    }

    #[test]
    fn the_notes_end_at_the_first_line_that_is_not_a_plain_comment() {
        let source = "fn f() -> u32 {\n    // lab:todo Do it.\n    // A note.\n\n    // Reference.\n    1\n    // lab:end\n}\n";
        let skeleton = render(source, Side::Skeleton).unwrap().text;
        assert!(
            skeleton.ends_with("fn f() -> u32 {\n    // A note.\n    todo!(\"Do it.\")\n}\n"),
            "{skeleton}"
        );
        let documented = "fn f() {\n    // lab:todo Do it.\n    /// An item's docs.\n    fn g() {}\n    // lab:end\n}\n";
        let solution = render(documented, Side::Solution).unwrap().text;
        assert!(solution.contains("/// An item's docs."), "{solution}");
    }

    #[test]
    fn only_files_with_a_todo_get_the_preamble() {
        let plain = "//! Docs.\nfn f() {}\n";
        assert_eq!(render(plain, Side::Skeleton).unwrap().text, plain);
        // One written in a replacement text counts too, and the preamble opens a file with
        // no module comment.
        let replaced = "// lab:replace\n// lab:with\n// fn f() { todo!(\"Do it.\") }\n// lab:end\n";
        let rendered = render(replaced, Side::Skeleton).unwrap();
        assert_eq!(
            rendered.text,
            format!("{PREAMBLE}\n\nfn f() {{ todo!(\"Do it.\") }}\n")
        );
        assert_eq!(rendered.todos, vec!["Do it."]);
    }

    #[test]
    fn a_sentence_too_wide_for_one_line_is_refused_with_its_line() {
        let wide = format!(
            "fn f() {{\n    // lab:todo {}.\n    g()\n    // lab:end\n}}\n",
            "word ".repeat(20)
        );
        let e = render(&wide, Side::Skeleton).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("within 100"), "{}", e.message);
        // Quotes and braces are escaped in the todo!(), so the generated line can be the wider.
        let escaped = format!("    // lab:todo {}\n", "\"".repeat(50));
        assert!(
            render(&escaped, Side::Skeleton)
                .unwrap_err()
                .message
                .contains("113-column")
        );
    }

    #[test]
    fn a_hand_written_allow_is_refused_where_the_preamble_goes() {
        let source = "// lab:replace\n// lab:with\n// #![allow(unused)]\n// lab:end\nfn f() {\n    // lab:todo Do it.\n    // lab:end\n}\n";
        let e = render(source, Side::Skeleton).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("preamble"), "{}", e.message);
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
