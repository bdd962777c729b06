//! The slide decks, checked like code (DESIGN.md part 5).
//!
//! presenterm needs a real terminal, so the test gate cannot present a deck (CI does, in tmux:
//! `scripts/check-decks.sh`, which also checks that every slide fits). It checks what goes
//! wrong with one instead, in every `slides/NN-name.md`:
//! - **it parses into slides**: an optional front matter block (its title plain text, not a
//!   list item), then slides separated by `<!-- end_slide -->` on a line of its own, at least
//!   [`MIN_SLIDES`], none empty, every code fence closed;
//! - **its comments are presenterm's**: a one-line HTML comment is a command presenterm knows
//!   (it refuses the deck otherwise), and every speaker note is well formed, either
//!   `<!-- speaker_note: text -->` on one line or the YAML block form (a malformed block is
//!   silently dropped by presenterm); every slide has a note;
//! - **its commands run**: every `cargo lab ...` in a code block or an inline code span
//!   parses with the lab's own parser ([`lab::Cli`]), and what it names exists: the exercise
//!   (`cargo lab check 3`), the demo (`cargo lab demo detection`), the scenario (`cargo lab
//!   scenario run owner-lost`); a `cargo lab` in plain prose is reported, because nothing
//!   could check it;
//! - **what it names exists**: every exercise named in prose ("exercise 02") or by package
//!   (`cargo test -p remote-calls`), and every repository path (`solutions/...`,
//!   `exercises/...`, `harness/...`, `scripts/...`, `slides/...`).
//!
//! `slides/README.md` is not a deck: only its commands, exercises and paths are checked.
//! Nothing here builds anything: the workspace is read from its files.
//!
//! The tests at the bottom feed the checker a good deck and then the same deck with one
//! thing broken, and expect exactly that one thing reported: proof that the checker bites.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use lab::catalog::Catalog;
use lab::{Cli, Command};

/// Fewer slides than this is not a deck.
const MIN_SLIDES: usize = 5;

/// The folders a repository path in a deck starts with.
const REPO_DIRS: [&str; 5] = [
    "solutions/",
    "exercises/",
    "harness/",
    "scripts/",
    "slides/",
];

/// presenterm's comment commands without a value, and those with one (`name: value`).
const BARE_COMMANDS: [&str; 9] = [
    "end_slide",
    "pause",
    "jump_to_middle",
    "reset_layout",
    "no_footer",
    "skip_slide",
    "new_line",
    "newline",
    "incremental_lists",
];
const VALUED_COMMANDS: [&str; 11] = [
    "speaker_note",
    "incremental_lists",
    "column_layout",
    "column",
    "font_size",
    "alignment",
    "new_lines",
    "newlines",
    "list_item_newlines",
    "include",
    "snippet_output",
];

/// What a deck may name, read from the workspace's files.
struct Workspace {
    root: PathBuf,
    catalog: Catalog,
    packages: BTreeSet<String>,
    demos: Vec<String>,
    scenarios: Vec<String>,
}

impl Workspace {
    fn load() -> Workspace {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("the workspace root");
        let catalog = Catalog::load(&root).expect("the exercise catalog");
        Workspace {
            packages: packages(&root),
            demos: lab::demo::names(&root),
            scenarios: lab::demo::scenario_names(&root),
            catalog,
            root,
        }
    }

    fn has_exercise_number(&self, number: u32) -> bool {
        self.catalog.exercises.iter().any(|e| e.number == number)
    }
}

/// Every package of the workspace, from the members' `Cargo.toml`s.
fn packages(root: &Path) -> BTreeSet<String> {
    let read = |path: &Path| -> toml::Table {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.parse()
            .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
    };
    let manifest = read(&root.join("Cargo.toml"));
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    members
        .iter()
        .filter_map(|m| m.as_str())
        .filter_map(|m| {
            let member = read(&root.join(m).join("Cargo.toml"));
            Some(member.get("package")?.get("name")?.as_str()?.to_string())
        })
        .collect()
}

/// What one file said wrong, as `file:line: what`.
#[derive(Default)]
struct Report {
    file: String,
    problems: Vec<String>,
    slides: usize,
    commands: usize,
}

impl Report {
    fn problem(&mut self, line: usize, what: impl AsRef<str>) {
        self.problems
            .push(format!("{}:{line}: {}", self.file, what.as_ref()));
    }
}

/// The slide being read.
struct Slide {
    starts: usize,
    content: bool,
    note: bool,
}

impl Slide {
    fn at(line: usize) -> Slide {
        Slide {
            starts: line,
            content: false,
            note: false,
        }
    }
}

/// Checks one file's text. `deck`: check the slide structure too (not for the README).
fn check(file: &str, text: &str, ws: &Workspace, deck: bool) -> Report {
    let mut report = Report {
        file: file.to_string(),
        ..Report::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    if deck {
        i = front_matter(&lines, &mut report);
    }
    let mut slide = Slide::at(i + 1);
    // An open fence: its character, its length and its line.
    let mut fence: Option<(char, usize, usize)> = None;
    // An open multi-line comment: its first line and its text so far.
    let mut comment: Option<(usize, String)> = None;
    while i < lines.len() {
        let (no, line) = (i + 1, lines[i]);
        i += 1;
        if let Some((ch, len, _)) = fence {
            if closes_fence(line, ch, len) {
                fence = None;
            } else {
                code_line(line, no, ws, &mut report);
            }
            continue;
        }
        if let Some((start, mut body)) = comment.take() {
            match line.find("-->") {
                Some(end) => {
                    body.push('\n');
                    body.push_str(&line[..end]);
                    slide.note |= note_block(&body, start, ws, &mut report);
                }
                None => {
                    body.push('\n');
                    body.push_str(line);
                    comment = Some((start, body));
                }
            }
            continue;
        }
        if line.trim() == "<!-- end_slide -->" {
            if deck {
                finish(&slide, no, &mut report);
            }
            slide = Slide::at(no + 1);
            continue;
        }
        if let Some((ch, len)) = opens_fence(line) {
            fence = Some((ch, len, no));
            slide.content = true;
            continue;
        }
        // Prose, with any comments in it taken out.
        let mut rest = line;
        let mut prose = String::new();
        while let Some(open) = comment_start(rest) {
            prose.push_str(&rest[..open]);
            let after = &rest[open + 4..];
            match after.find("-->") {
                Some(end) => {
                    slide.note |= one_line_comment(&after[..end], no, ws, &mut report);
                    rest = &after[end + 3..];
                }
                None => {
                    comment = Some((no, after.to_string()));
                    rest = "";
                }
            }
        }
        prose.push_str(rest);
        if !prose.trim().is_empty() {
            slide.content = true;
            prose_line(&prose, no, ws, &mut report);
        }
    }
    if let Some((_, _, opened)) = fence {
        report.problem(opened, "this code fence is never closed");
    }
    if let Some((opened, _)) = comment {
        report.problem(opened, "this comment is never closed (`-->`)");
    }
    if deck {
        finish(&slide, lines.len(), &mut report);
        if report.slides < MIN_SLIDES {
            report.problem(
                1,
                format!(
                    "{} slide(s); a deck has at least {MIN_SLIDES}, separated by `<!-- end_slide -->`",
                    report.slides
                ),
            );
        }
    }
    report
}

/// Checks the front matter, if any; returns the index of the first line after it.
fn front_matter(lines: &[&str], report: &mut Report) -> usize {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return 0;
    }
    let Some(end) = lines.iter().skip(1).position(|l| l.trim_end() == "---") else {
        report.problem(1, "the front matter (`---`) is never closed");
        return lines.len();
    };
    const KEYS: [&str; 9] = [
        "title",
        "sub_title",
        "author",
        "authors",
        "date",
        "event",
        "location",
        "theme",
        "options",
    ];
    for (k, line) in lines[1..=end].iter().enumerate() {
        if line.trim().is_empty() || line.starts_with(' ') || line.starts_with('-') {
            continue;
        }
        let no = k + 2;
        let Some((key, value)) = line.split_once(':') else {
            report.problem(
                no,
                format!("front matter line {line:?} is not `key: value`"),
            );
            continue;
        };
        if !KEYS.contains(&key.trim()) {
            report.problem(
                no,
                format!(
                    "front matter key {key:?} is not presenterm's ({})",
                    KEYS.join(", ")
                ),
            );
        }
        let value = value.trim();
        if !value.starts_with(['"', '\'']) && (value.contains(": ") || value.contains(" #")) {
            report.problem(
                no,
                format!("quote the front matter value of {key}: YAML reads its `: ` as a key"),
            );
        }
        // presenterm reads the title slide's text as one line of Markdown and refuses a deck
        // whose title is a list item or a heading ("inline must be simple text").
        let text = value.trim_matches(['"', '\'']);
        let numbered = text.split_once(['.', ')']).is_some_and(|(n, rest)| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && rest.starts_with(' ')
        });
        let marked = ["- ", "* ", "+ ", "#", "> "]
            .iter()
            .any(|m| text.starts_with(m));
        if numbered || marked {
            report.problem(
                no,
                format!(
                    "presenterm reads the front matter's {key} {text:?} as a list item or heading, \
                     and refuses the deck: reword its start (\"Section 1: ...\")"
                ),
            );
        }
    }
    end + 2
}

fn finish(slide: &Slide, last: usize, report: &mut Report) {
    if !slide.content {
        report.problem(
            slide.starts,
            format!("the slide on lines {}-{last} is empty", slide.starts),
        );
        return;
    }
    report.slides += 1;
    if !slide.note {
        report.problem(
            slide.starts,
            "this slide has no speaker note (`<!-- speaker_note: ... -->`): say what to say, and how long",
        );
    }
}

/// Where an HTML comment starts in a line of prose: `<!--` outside inline code.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_span: Option<usize> = None;
    let bytes = line.as_bytes();
    let mut k = 0;
    while k < bytes.len() {
        if bytes[k] == b'`' {
            let ticks = bytes[k..].iter().take_while(|b| **b == b'`').count();
            in_span = match in_span {
                None => Some(ticks),
                Some(open) if open == ticks => None,
                other => other,
            };
            k += ticks;
            continue;
        }
        if in_span.is_none() && bytes[k..].starts_with(b"<!--") {
            return Some(k);
        }
        k += 1;
    }
    None
}

/// A fence opener: up to three spaces, then three or more backticks or tildes.
fn opens_fence(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = trimmed.chars().take_while(|c| *c == ch).count();
    (len >= 3).then_some((ch, len))
}

fn closes_fence(line: &str, ch: char, len: usize) -> bool {
    let trimmed = line.trim();
    trimmed.chars().count() >= len && trimmed.chars().all(|c| c == ch)
}

/// A comment on one line: a presenterm command, or presenterm refuses the deck. Returns
/// whether it is a speaker note.
fn one_line_comment(body: &str, no: usize, ws: &Workspace, report: &mut Report) -> bool {
    let body = body.trim();
    if BARE_COMMANDS.contains(&body) {
        if body == "end_slide" {
            report.problem(no, "`<!-- end_slide -->` must be alone on its line");
        }
        return false;
    }
    let Some((name, value)) = body.split_once(':') else {
        report.problem(no, unknown_command(body));
        return false;
    };
    let (name, value) = (name.trim(), value.trim());
    if !VALUED_COMMANDS.contains(&name) {
        report.problem(no, unknown_command(body));
        return false;
    }
    if name != "speaker_note" {
        return false;
    }
    if value.is_empty() {
        report.problem(no, "an empty speaker note");
    } else if value.contains(": ") || value.contains(" #") || value.starts_with(YAML_INDICATORS) {
        report.problem(
            no,
            "presenterm reads a one-line note as YAML, and this text is not a plain YAML string \
             (`: `, ` #` or a leading symbol): use the block form `speaker_note: |`",
        );
    }
    prose_line(value, no, ws, report);
    true
}

/// Characters a plain YAML string cannot start with.
const YAML_INDICATORS: [char; 17] = [
    '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '`',
];

fn unknown_command(body: &str) -> String {
    format!(
        "`<!-- {body} -->` is not a presenterm command, and presenterm refuses a deck with one \
         (a note is `<!-- speaker_note: ... -->`; a multi-line comment is ignored)"
    )
}

/// A comment over several lines: presenterm ignores it unless it is a YAML command, so a
/// speaker note in it must be exactly `speaker_note: |` and lines indented under it. Returns
/// whether it is a speaker note.
fn note_block(body: &str, start: usize, ws: &Workspace, report: &mut Report) -> bool {
    let mut lines = body
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    let Some((k, first)) = lines.next() else {
        return false;
    };
    let looks_like_note = [
        "speaker_note",
        "speaker-note",
        "speaker_notes",
        "speakernote",
    ]
    .iter()
    .any(|s| body.contains(s));
    let Some(value) = first.trim().strip_prefix("speaker_note:") else {
        if looks_like_note {
            report.problem(
                start + k,
                "this comment mentions a speaker note but does not start with `speaker_note: |`: \
                 presenterm would drop it silently",
            );
        }
        return false;
    };
    if !["|", "|-", ">", ">-"].contains(&value.trim()) {
        report.problem(
            start + k,
            "a multi-line speaker note starts `speaker_note: |`, its text indented below",
        );
        return true;
    }
    let key_indent = indent(first);
    let mut block_indent = None;
    let mut text = false;
    for (j, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let no = start + j;
        if line.starts_with('\t') {
            report.problem(no, "a tab in a speaker note: YAML indents with spaces");
            continue;
        }
        let this = indent(line);
        let wanted = *block_indent.get_or_insert(this);
        if this <= key_indent || this < wanted {
            report.problem(
                no,
                "this line of the speaker note is indented less than the first: YAML ends the \
                 note there and presenterm drops the comment",
            );
        }
        text = true;
        prose_line(line, no, ws, report);
    }
    if !text {
        report.problem(start + k, "an empty speaker note");
    }
    true
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A line of prose (or of a speaker note): commands in inline code, exercises and paths anywhere, and no
/// `cargo lab` outside code.
fn prose_line(line: &str, no: usize, ws: &Workspace, report: &mut Report) {
    let (spans, outside) = code_spans(line);
    for span in &spans {
        command(span.trim(), no, ws, report);
    }
    if outside.contains("cargo lab") {
        report.problem(
            no,
            "`cargo lab` in plain prose: put the command in backticks so it is checked",
        );
    }
    exercises(line, no, ws, report);
    paths(line, no, ws, report);
}

/// A line of a code block: each shell command on it, exercises and paths.
fn code_line(line: &str, no: usize, ws: &Workspace, report: &mut Report) {
    let code = line.split(" #").next().unwrap_or(line);
    for part in code.split("&&").flat_map(|p| p.split(';')) {
        let part = part.trim();
        let part = part.strip_prefix("$ ").unwrap_or(part);
        command(part, no, ws, report);
    }
    exercises(line, no, ws, report);
    paths(line, no, ws, report);
}

/// The inline code spans of a line, and the text outside them.
fn code_spans(line: &str) -> (Vec<String>, String) {
    let mut spans = Vec::new();
    let mut outside = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        outside.push_str(&rest[..open]);
        let ticks = rest[open..].chars().take_while(|c| *c == '`').count();
        let after = &rest[open + ticks..];
        let closer = "`".repeat(ticks);
        match after.find(&closer) {
            Some(end) => {
                spans.push(after[..end].to_string());
                rest = &after[end + ticks..];
            }
            None => {
                outside.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    outside.push_str(rest);
    (spans, outside)
}

/// Splits a shell command into words, honouring single and double quotes.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A shell command: `cargo lab ...` must parse and name what exists; `cargo ... -p X` must
/// name a package of the workspace. Anything else is not ours to check.
fn command(text: &str, no: usize, ws: &Workspace, report: &mut Report) {
    let words = words(text);
    if words.first().map(String::as_str) != Some("cargo") {
        return;
    }
    if words.get(1).map(String::as_str) == Some("lab") {
        report.commands += 1;
        lab_command(text, &words[2..], no, ws, report);
        return;
    }
    for (k, word) in words.iter().enumerate() {
        let package = match word.as_str() {
            "-p" | "--package" => words.get(k + 1).cloned(),
            w => w
                .strip_prefix("--package=")
                .or_else(|| w.strip_prefix("-p="))
                .map(str::to_string),
        };
        if let Some(package) = package
            && !placeholder(&package)
            && !ws.packages.contains(&package)
        {
            report.problem(
                no,
                format!(
                    "`{text}`: no package {package:?} in the workspace (there are: {})",
                    ws.packages.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}

fn placeholder(word: &str) -> bool {
    word.starts_with('<') || word.starts_with('[') || word.chars().all(|c| c.is_ascii_uppercase())
}

/// `cargo lab <args>`: parsed by the lab's own parser, then what it names looked up.
fn lab_command(text: &str, args: &[String], no: usize, ws: &Workspace, report: &mut Report) {
    let argv = std::iter::once("lab").chain(args.iter().map(String::as_str));
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            return;
        }
        Err(e) => {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or("does not parse");
            report.problem(no, format!("`{text}` does not parse: {why}"));
            return;
        }
    };
    let exercise = |arg: &Option<String>, report: &mut Report| {
        if let Some(arg) = arg
            && !placeholder(arg)
            && let Err(why) = ws.catalog.find(arg)
        {
            report.problem(no, format!("`{text}`: {why}"));
        }
    };
    match cli.command {
        None | Some(Command::Load(_)) => {}
        Some(Command::Check(a)) => exercise(&a.exercise, report),
        Some(Command::Hint(a)) => exercise(&a.exercise, report),
        Some(Command::Reset(a) | Command::Diff(a) | Command::Solve(a)) => {
            exercise(&Some(a.exercise), report)
        }
        Some(Command::Generate(a)) => exercise(&a.exercise, report),
        Some(Command::Verify(a)) => exercise(&a.exercise, report),
        Some(Command::Mutants(a)) => exercise(&a.exercise, report),
        Some(Command::Demo(a)) => {
            if let Some(name) = a.name.filter(|n| !placeholder(n))
                && !ws.demos.contains(&name)
            {
                report.problem(
                    no,
                    format!(
                        "`{text}`: no demo {name:?}; there are: {}",
                        ws.demos.join(", ")
                    ),
                );
            }
        }
        Some(Command::Scenario(a)) => {
            if let lab::scenario::ScenarioCommand::Run(run) = a.command {
                let name = run.scenario;
                let known = ws.scenarios.contains(&name)
                    || (name.ends_with(".toml") && ws.root.join(&name).is_file());
                if !placeholder(&name) && !known {
                    report.problem(
                        no,
                        format!(
                            "`{text}`: no scenario {name:?}; there are: {}",
                            ws.scenarios.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// "exercise 02", "Exercise 3", "exercises 01 and 03": each number must be an exercise.
fn exercises(line: &str, no: usize, ws: &Workspace, report: &mut Report) {
    let lower = line.to_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("exercise") {
        let start = from + at;
        from = start + "exercise".len();
        if lower[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            continue;
        }
        let mut rest = lower[from..].strip_prefix('s').unwrap_or(&lower[from..]);
        loop {
            let spaced = rest.trim_start();
            let digits: String = spaced.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                break;
            }
            let number: u32 = digits.parse().unwrap_or(u32::MAX);
            if !ws.has_exercise_number(number) {
                report.problem(
                    no,
                    format!(
                        "exercise {digits} does not exist in this workspace; {}",
                        ws.catalog.what_exists(&digits)
                    ),
                );
            }
            rest = &spaced[digits.len()..];
            let next = [", ", " and ", " or ", " to ", "-", ","]
                .iter()
                .find_map(|sep| rest.strip_prefix(sep));
            match next {
                Some(after) if after.trim_start().starts_with(|c: char| c.is_ascii_digit()) => {
                    rest = after
                }
                _ => break,
            }
        }
    }
}

/// Repository paths (`solutions/...`, `../exercises/...`): each must exist.
fn paths(line: &str, no: usize, ws: &Workspace, report: &mut Report) {
    for dir in REPO_DIRS {
        let mut from = 0;
        while let Some(at) = line[from..].find(dir) {
            let start = from + at;
            from = start + dir.len();
            let before = &line[..start];
            let relative_to_slides = before.ends_with("../");
            let starts_a_path = relative_to_slides
                || before
                    .chars()
                    .next_back()
                    .is_none_or(|c| " \t(`\"'[<:".contains(c));
            if !starts_a_path {
                continue;
            }
            let path: String = line[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"`)]\"',;<>".contains(*c))
                .collect();
            let path = path.split('#').next().unwrap_or(&path);
            let path = path.trim_end_matches(['.', ':']);
            if path.contains(['*', '{', '$']) {
                continue;
            }
            if !ws.root.join(path).exists() {
                report.problem(no, format!("{path} does not exist in the repository"));
            }
        }
    }
}

/// The decks: `slides/NN-name.md`, in order.
fn decks(root: &Path) -> Vec<PathBuf> {
    let mut decks: Vec<PathBuf> = std::fs::read_dir(root.join("slides"))
        .expect("slides/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    decks.sort();
    decks
}

#[test]
fn every_deck_parses_and_names_only_what_exists() {
    let ws = Workspace::load();
    let decks = decks(&ws.root);
    assert!(
        decks.len() >= 2,
        "slides/ should hold the intro and the Distribution deck, holds {decks:?}"
    );
    let mut problems = Vec::new();
    for path in decks.iter().chain([&ws.root.join("slides/README.md")]) {
        let name = path
            .strip_prefix(&ws.root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let is_deck = !name.ends_with("README.md");
        if is_deck {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            let numbered = file.len() > 3
                && file[..2].chars().all(|c| c.is_ascii_digit())
                && file[2..].starts_with('-');
            if !numbered {
                problems.push(format!(
                    "{name}: name decks NN-name.md, so they sort in workshop order"
                ));
            }
        }
        let report = check(&name, &text, &ws, is_deck);
        println!(
            "{name}: {} slide(s), {} `cargo lab` command(s), {} problem(s)",
            report.slides,
            report.commands,
            report.problems.len()
        );
        problems.extend(report.problems);
    }
    assert!(
        problems.is_empty(),
        "the decks have {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// The checker bites: a good deck passes, and the same deck with one thing broken reports
// exactly that thing.

/// A small deck that names real things in every way the checker looks at.
const GOOD: &str = r#"---
title: "A deck: for the checker's tests"
---

First
===

Exercise 01 and exercises 02 and 03 exist; so does `harness/core/src/cluster.rs`.

<!-- speaker_note: one line, plain text -->

<!-- end_slide -->

Commands
===

```sh
cargo lab                          # where am I
cargo lab check 3 && cargo lab hint remote-calls
cargo test -p consistent-hashing-solution
```

<!--
speaker_note: |
  (2 min) Run `cargo lab demo detection` live: one more thing: colons are fine here.
  Then `cargo lab scenario run owner-lost --seed 3`.
-->

<!-- end_slide -->

Demo
===

Run `cargo lab demo` or `cargo lab demo <name>`; the brief is
[here](../exercises/1-distribution/01-remote-calls/README.md).

<!-- speaker_note: the flagship -->

<!-- end_slide -->

Four
===

~~~text
an ASCII diagram: cargo test -p <crate>
~~~

<!-- speaker_note: four -->

<!-- end_slide -->

Five
===

The end.

<!-- speaker_note: five -->
"#;

/// Checks `GOOD` with `from` replaced by `to`.
fn check_broken(from: &str, to: &str) -> Vec<String> {
    assert!(GOOD.contains(from), "the good deck has no {from:?}");
    let ws = Workspace::load();
    check("bad.md", &GOOD.replacen(from, to, 1), &ws, true).problems
}

/// Asserts that exactly one problem is reported, and that it says `says`.
fn expect_one(problems: Vec<String>, says: &str) {
    expect(problems, &[says]);
}

/// Asserts that the problems are exactly one per entry of `say`, each saying its entry.
fn expect(mut problems: Vec<String>, say: &[&str]) {
    let all = problems.clone();
    for says in say {
        let Some(k) = problems.iter().position(|p| p.contains(says)) else {
            panic!("expected a problem saying {says:?}, got: {all:#?}");
        };
        problems.remove(k);
    }
    assert!(
        problems.is_empty(),
        "expected only problems saying {say:?}, got: {all:#?}"
    );
}

#[test]
fn a_good_deck_passes() {
    let ws = Workspace::load();
    let report = check("good.md", GOOD, &ws, true);
    assert!(
        report.problems.is_empty(),
        "the good deck should pass: {:#?}",
        report.problems
    );
    assert_eq!(report.slides, 5);
    assert_eq!(
        report.commands, 7,
        "commands found in code blocks, spans and notes"
    );
}

#[test]
fn a_command_that_does_not_parse_is_reported() {
    expect_one(
        check_broken("cargo lab check 3", "cargo lab check 3 --fast"),
        "`cargo lab check 3 --fast` does not parse: error: unexpected argument '--fast'",
    );
    expect_one(
        check_broken("`cargo lab demo`", "`cargo lab demos`"),
        "`cargo lab demos` does not parse",
    );
    expect_one(
        check_broken("--seed 3", "--seed three"),
        "`cargo lab scenario run owner-lost --seed three` does not parse",
    );
}

#[test]
fn a_missing_file_is_reported() {
    expect_one(
        check_broken(
            "harness/core/src/cluster.rs",
            "harness/core/src/clusters.rs",
        ),
        "harness/core/src/clusters.rs does not exist",
    );
    expect_one(
        check_broken(
            "../exercises/1-distribution/01-remote-calls",
            "../exercises/1-distribution/09-nowhere",
        ),
        "exercises/1-distribution/09-nowhere/README.md does not exist",
    );
}

#[test]
fn an_unknown_demo_is_reported() {
    expect_one(
        check_broken("cargo lab demo detection", "cargo lab demo detektion"),
        "no demo \"detektion\"",
    );
}

#[test]
fn an_unknown_exercise_scenario_or_package_is_reported() {
    expect_one(
        check_broken("exercises 02 and 03", "exercises 02 and 42"),
        "exercise 42 does not exist",
    );
    expect_one(
        check_broken("cargo lab check 3", "cargo lab check 42"),
        "`cargo lab check 42`: no exercise",
    );
    expect_one(
        check_broken("hint remote-calls", "hint remote-call"),
        "no exercise \"remote-call\"",
    );
    expect_one(
        check_broken("scenario run owner-lost", "scenario run owner-lots"),
        "no scenario \"owner-lots\"",
    );
    expect_one(
        check_broken(
            "-p consistent-hashing-solution",
            "-p consistent-hash-solution",
        ),
        "no package \"consistent-hash-solution\"",
    );
}

#[test]
fn a_broken_deck_structure_is_reported() {
    expect_one(
        check_broken(
            "<!-- speaker_note: five -->\n",
            "<!-- speaker_note: five -->\n\n```text\nnever closed\n",
        ),
        "this code fence is never closed",
    );
    expect_one(
        check_broken("<!-- speaker_note: four -->", ""),
        "this slide has no speaker note",
    );
    expect_one(
        check_broken(
            "<!-- speaker_note: four -->\n",
            "<!-- speaker_note: four -->\n\n<!-- end_slide -->\n\n<!-- speaker_note: alone -->\n",
        ),
        "is empty",
    );
    expect(
        check_broken("<!-- speaker_note: five -->", "<!-- speaker-note: five -->"),
        &[
            "is not a presenterm command",
            "this slide has no speaker note",
        ],
    );
    expect_one(
        check_broken("one line, plain text", "one line: not plain"),
        "use the block form",
    );
    expect_one(
        check_broken("  Then `cargo lab", "Then `cargo lab"),
        "indented less than the first",
    );
    expect(
        check_broken("speaker_note: |\n  (2 min)", "speaker_notes: |\n  (2 min)"),
        &[
            "presenterm would drop it silently",
            "this slide has no speaker note",
        ],
    );
    expect_one(
        check_broken("Run `cargo lab demo` or", "Run cargo lab demo or"),
        "`cargo lab` in plain prose",
    );
    expect_one(
        check_broken(
            "title: \"A deck: for the checker's tests\"",
            "title: \"1. A deck\"",
        ),
        "as a list item or heading",
    );
    let ws = Workspace::load();
    let short = GOOD.split("<!-- end_slide -->").next().unwrap_or_default();
    expect_one(
        check("short.md", short, &ws, true).problems,
        "1 slide(s); a deck has at least 5",
    );
}
