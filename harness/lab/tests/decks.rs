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
//! - **the day fits its slot**: every slide's note starts with its time (`(3 min)`,
//!   `(2 min, full day only)`, `(exercise 05)`: the exercise's own `minutes`), and the decks
//!   add up, block by block, to the intro deck's day tables; the half day must fit the seed's
//!   230 minutes, the full path is added up and shown, and a section whose deck does not
//!   exist yet counts the table's `(planned)` minutes and is listed as planned ([`day`]).
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
    /// Every slide's time, in order.
    timings: Vec<Timing>,
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
    /// What its (first) speaker note says it takes.
    timing: Option<Timing>,
}

/// A speaker note's first line, for the time it starts with; `None` when the note is malformed
/// (and reported as such).
type Note = Option<String>;

impl Slide {
    fn at(line: usize) -> Slide {
        Slide {
            starts: line,
            content: false,
            note: false,
            timing: None,
        }
    }

    /// A speaker note of this slide: in a deck, the first one starts with the slide's time.
    fn noted(&mut self, note: Note, line: usize, deck: bool, report: &mut Report) {
        let first = !self.note;
        self.note = true;
        let (true, true, Some(text)) = (deck, first, note) else {
            return;
        };
        match Timing::parse(&text) {
            Ok(timing) => self.timing = Some(timing),
            Err(why) => report.problem(line, why),
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
                    if let Some(note) = note_block(&body, start, ws, &mut report) {
                        slide.noted(note, start, deck, &mut report);
                    }
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
                    if let Some(note) = one_line_comment(&after[..end], no, ws, &mut report) {
                        slide.noted(note, no, deck, &mut report);
                    }
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
    report.timings.extend(slide.timing);
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

/// A comment on one line: a presenterm command, or presenterm refuses the deck. Returns the
/// note's text if it is a speaker note.
fn one_line_comment(body: &str, no: usize, ws: &Workspace, report: &mut Report) -> Option<Note> {
    let body = body.trim();
    if BARE_COMMANDS.contains(&body) {
        if body == "end_slide" {
            report.problem(no, "`<!-- end_slide -->` must be alone on its line");
        }
        return None;
    }
    let Some((name, value)) = body.split_once(':') else {
        report.problem(no, unknown_command(body));
        return None;
    };
    let (name, value) = (name.trim(), value.trim());
    if !VALUED_COMMANDS.contains(&name) {
        report.problem(no, unknown_command(body));
        return None;
    }
    if name != "speaker_note" {
        return None;
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
    Some((!value.is_empty()).then(|| value.to_string()))
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
/// the note's first line if it is a speaker note.
fn note_block(body: &str, start: usize, ws: &Workspace, report: &mut Report) -> Option<Note> {
    let mut lines = body
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    let (k, first) = lines.next()?;
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
        return None;
    };
    if !["|", "|-", ">", ">-"].contains(&value.trim()) {
        report.problem(
            start + k,
            "a multi-line speaker note starts `speaker_note: |`, its text indented below",
        );
        return Some(None);
    }
    let key_indent = indent(first);
    let mut block_indent = None;
    let mut text: Option<String> = None;
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
        text.get_or_insert_with(|| line.trim().to_string());
        prose_line(line, no, ws, report);
    }
    if text.is_none() {
        report.problem(start + k, "an empty speaker note");
    }
    Some(text)
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
        // The rest name nothing to look up (`cargo lab`, `load`, `doctor`).
        _ => {}
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

// ---------------------------------------------------------------------------------------
// The day: every slide says how long it takes, and the decks add up to the slot.

/// The seed's half-day slot, 12:00 to 15:50, in minutes: talks, demos, exercises, the break
/// and the wrap-up.
const SLOT: u32 = 230;

/// The two ways through the workshop: the half-day core path (the ★ exercises written, three
/// more shown as live demos) and the full path (every exercise written), over one day or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Half,
    Full,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Half => "half day",
            Route::Full => "full path",
        }
    }
}

/// How long a slide takes, as its speaker note starts:
/// - `(N min)`: talk or demo, on both paths;
/// - `(N min, half day only)`, `(N min, full day only)`: on one path;
/// - `(exercise NN)`: the exercise's `minutes` from its `[package.metadata.lab]`, on the full
///   day, and on the half day if it is core (★).
///
/// Anything may follow inside the parentheses after a comma (`(5 min, while the builds run)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timing {
    Talk { minutes: u32, only: Option<Route> },
    Exercise(u32),
}

impl Timing {
    const FORMS: &str = "`(N min)`, `(N min, half day only)`, `(N min, full day only)` or \
                         `(exercise NN)`";

    fn parse(note: &str) -> Result<Timing, String> {
        let missing = || {
            format!(
                "this speaker note does not start with the slide's time: {} (the day's check \
                 adds them up)",
                Timing::FORMS
            )
        };
        let inner = note
            .trim()
            .strip_prefix('(')
            .and_then(|rest| rest.split_once(')'))
            .map(|(inner, _)| inner)
            .ok_or_else(missing)?;
        let mut parts = inner.split([',', ';']).map(str::trim);
        let head = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let only = if rest.contains(&"half day only") {
            Some(Route::Half)
        } else if rest.contains(&"full day only") {
            Some(Route::Full)
        } else {
            None
        };
        if let Some(number) = head.strip_prefix("exercise ") {
            let number = number.parse().map_err(|_| missing())?;
            if only.is_some() {
                return Err(format!(
                    "`({inner})`: an exercise's path is its `core` flag, not the note's"
                ));
            }
            return Ok(Timing::Exercise(number));
        }
        let minutes = head
            .strip_suffix(" min")
            .and_then(|n| n.parse().ok())
            .ok_or_else(missing)?;
        Ok(Timing::Talk { minutes, only })
    }

    /// Its minutes on `path` (an exercise's from the catalog; one that does not exist is
    /// reported by the exercise check, and counts nothing here).
    fn minutes(self, path: Route, ws: &Workspace) -> u32 {
        match self {
            Timing::Talk { minutes, only } => {
                if only.is_none_or(|p| p == path) {
                    minutes
                } else {
                    0
                }
            }
            Timing::Exercise(number) => ws
                .catalog
                .exercises
                .iter()
                .find(|e| e.number == number)
                .filter(|e| path == Route::Full || e.core)
                .map_or(0, |e| e.minutes),
        }
    }
}

/// A deck's share of the day: which section it is (0 the intro), and its slides' times.
struct DeckTime {
    file: String,
    section: u32,
    timings: Vec<Timing>,
}

impl DeckTime {
    /// `slides/02-interfaces-and-state.md` is section 2.
    fn of(file: &str, report: &Report) -> Option<DeckTime> {
        let name = file.rsplit('/').next().unwrap_or(file);
        let section = name.get(..2)?.parse().ok()?;
        Some(DeckTime {
            file: file.to_string(),
            section,
            timings: report.timings.clone(),
        })
    }

    fn minutes(&self, path: Route, ws: &Workspace) -> u32 {
        self.timings.iter().map(|t| t.minutes(path, ws)).sum()
    }

    fn exercises(&self) -> impl Iterator<Item = u32> + '_ {
        self.timings.iter().filter_map(|t| match t {
            Timing::Exercise(n) => Some(*n),
            Timing::Talk { .. } => None,
        })
    }
}

/// One row of a day table in the intro deck: `| 12:15 | 75 | **1. Distribution**: ... | ... |`.
struct Row {
    line: usize,
    /// Minutes since midnight (or since the start, `0:00`).
    clock: u32,
    /// Empty on the last row, the end.
    minutes: Option<u32>,
    what: String,
}

impl Row {
    /// The section a row is, by its `**N. Name**` (0 for the intro); `None` for a break, lunch
    /// or the wrap-up, which no deck times.
    fn section(&self) -> Option<u32> {
        if self.what.to_lowercase().starts_with("intro") {
            return Some(0);
        }
        let at = self.what.find("**")?;
        let rest = &self.what[at + 2..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with('.') {
            return None;
        }
        digits.parse().ok()
    }

    /// The block's name for a message: `2. Interfaces and state`, `break`.
    fn name(&self) -> String {
        let bold = self
            .what
            .split("**")
            .nth(1)
            .filter(|_| self.what.contains("**"));
        let name = bold.unwrap_or_else(|| self.what.split([':', ',']).next().unwrap_or_default());
        name.trim().to_string()
    }
}

/// The day tables of the intro deck, by the title of their slide ("... half day ..." or
/// "... full path ..."): every table whose header starts `| time | min |`.
fn day_tables(text: &str) -> Vec<(Route, usize, Vec<Row>)> {
    let cells = |line: &str| -> Vec<String> {
        let line = line.trim();
        let line = line.strip_prefix('|').unwrap_or(line);
        let line = line.strip_suffix('|').unwrap_or(line);
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let clock = |cell: &str| -> Option<u32> {
        let (h, m) = cell.split_once(':')?;
        Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut tables = Vec::new();
    let mut title = String::new();
    let mut k = 0;
    while k < lines.len() {
        let line = lines[k];
        if line.starts_with("===") && k > 0 {
            title = lines[k - 1].to_lowercase();
        }
        let header = cells(line);
        if !(line.trim_start().starts_with('|') && header.len() >= 3)
            || header[0] != "time"
            || header[1] != "min"
        {
            k += 1;
            continue;
        }
        let path = if title.contains("half day") {
            Some(Route::Half)
        } else if title.contains("full path") {
            Some(Route::Full)
        } else {
            None
        };
        let start = k + 1;
        let mut rows = Vec::new();
        k += 1;
        while k < lines.len() && lines[k].trim_start().starts_with('|') {
            let row = cells(lines[k]);
            if !row[0].starts_with("---")
                && let Some(at) = clock(&row[0])
            {
                rows.push(Row {
                    line: k + 1,
                    clock: at,
                    minutes: row.get(1).and_then(|m| m.parse().ok()),
                    what: row.get(2).cloned().unwrap_or_default(),
                });
            }
            k += 1;
        }
        if let Some(path) = path {
            tables.push((path, start, rows));
        }
    }
    tables
}

/// What the day check found: the problems, and one line per path for the log.
#[derive(Default)]
struct Day {
    problems: Vec<String>,
    summary: Vec<String>,
}

fn hm(minutes: u32) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

/// Adds the day up. The intro deck's day tables list every block with its clock time and its
/// planned minutes; a block whose deck exists counts the deck's minutes, and must plan just
/// that; a block whose deck does not exist yet counts its planned minutes, and says so on the
/// slide (`(planned)`) and in the summary. The half day must fit [`SLOT`]; the full day is
/// added up and shown. Every section deck must have its block, and must time every exercise
/// of its section.
fn day(intro: &str, intro_text: &str, decks: &[DeckTime], ws: &Workspace) -> Day {
    let mut day = Day::default();
    let tables = day_tables(intro_text);
    for path in [Route::Half, Route::Full] {
        let found: Vec<_> = tables.iter().filter(|(p, _, _)| *p == path).collect();
        let (wanted, fits) = match path {
            Route::Half => ("one", found.len() == 1),
            Route::Full => ("one a day", !found.is_empty()),
        };
        if !fits {
            day.problems.push(format!(
                "{intro}: {} table(s) of the {} (a slide titled \"... {} ...\" with a table \
                 `| time | min | what |`); it needs {wanted}",
                found.len(),
                path.name(),
                path.name()
            ));
            continue;
        }
        let mut seen = BTreeSet::new();
        let (mut total, mut pauses) = (0, 0);
        for (k, (_, at, rows)) in found.iter().enumerate() {
            let label = match found.len() {
                1 => path.name().to_string(),
                _ => format!("{}, day {}", path.name(), k + 1),
            };
            let (minutes, paused) = day_path(
                intro, *at, rows, path, &label, decks, ws, &mut seen, &mut day,
            );
            total += minutes;
            pauses += paused;
        }
        if found.len() > 1 {
            day.summary.push(format!(
                "{}: {total} min over {} days, {} of them teaching ({} h {:02} min) and {pauses} \
                 breaks and lunch",
                path.name(),
                found.len(),
                total - pauses,
                (total - pauses) / 60,
                (total - pauses) % 60
            ));
        }
        for deck in decks.iter().filter(|d| !seen.contains(&d.section)) {
            day.problems.push(format!(
                "{intro}: the {} has no row for {} (section {}): every deck is a block of the day",
                path.name(),
                deck.file,
                deck.section
            ));
        }
    }
    for deck in decks.iter().filter(|d| d.section > 0) {
        let timed: BTreeSet<u32> = deck.exercises().collect();
        for exercise in &ws.catalog.exercises {
            let section: Option<u32> = exercise
                .section
                .split_once('-')
                .and_then(|(n, _)| n.parse().ok());
            if section == Some(deck.section) && !timed.contains(&exercise.number) {
                day.problems.push(format!(
                    "{}: exercise {:02} is in its section but no slide times it: give its \
                     slide the note `(exercise {:02})`",
                    deck.file, exercise.number, exercise.number
                ));
            }
        }
    }
    day
}

/// One day table: its problems and summary line into `day`, the sections it has into `seen`;
/// returns its minutes, and how many of them are breaks and lunch.
#[allow(clippy::too_many_arguments)]
fn day_path(
    intro: &str,
    at: usize,
    rows: &[Row],
    path: Route,
    name: &str,
    decks: &[DeckTime],
    ws: &Workspace,
    seen: &mut BTreeSet<u32>,
    day: &mut Day,
) -> (u32, u32) {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        day.problems
            .push(format!("{intro}:{at}: the {name} table has no rows"));
        return (0, 0);
    };
    if last.minutes.is_some() {
        day.problems.push(format!(
            "{intro}:{}: the {name} table's last row is its end: a time and no minutes",
            last.line
        ));
    }
    let mut blocks = Vec::new();
    let mut planned = Vec::new();
    let mut total = 0;
    let mut pauses = 0;
    for (row, next) in rows.iter().zip(rows.iter().skip(1)) {
        let Some(minutes) = row.minutes else {
            day.problems.push(format!(
                "{intro}:{}: the {name} table's row {:?} has no minutes",
                row.line, row.what
            ));
            continue;
        };
        if row.clock + minutes != next.clock {
            day.problems.push(format!(
                "{intro}:{}: the {name} table says {} + {minutes} min, and its next row \
                 starts at {}: the clock times must add up",
                row.line,
                hm(row.clock),
                hm(next.clock)
            ));
        }
        let deck = row
            .section()
            .and_then(|n| decks.iter().find(|d| d.section == n));
        let says_planned = row.what.contains("(planned)");
        let counted = match (row.section(), deck) {
            (Some(_), Some(deck)) => {
                let timed = deck.minutes(path, ws);
                if timed != minutes {
                    day.problems.push(format!(
                        "{intro}:{}: the {name} table plans {minutes} min for {}, and the \
                         slides of {} add up to {timed} min on the {}: make them agree",
                        row.line,
                        row.name(),
                        deck.file,
                        path.name()
                    ));
                }
                if says_planned {
                    day.problems.push(format!(
                        "{intro}:{}: {} has its deck ({}): its row is not `(planned)` any more",
                        row.line,
                        row.name(),
                        deck.file
                    ));
                }
                blocks.push(format!("{} {timed} ({})", row.name(), deck.file));
                timed
            }
            (Some(n), None) => {
                if !says_planned {
                    day.problems.push(format!(
                        "{intro}:{}: {} has no deck yet (slides/{n:02}-*.md), so its {minutes} \
                         min are a plan: say `(planned)` in its row",
                        row.line,
                        row.name()
                    ));
                }
                planned.push(format!("{} {minutes}", row.name()));
                blocks.push(format!("{} {minutes} (planned: no deck yet)", row.name()));
                minutes
            }
            (None, _) => {
                if ["break", "lunch"].iter().any(|p| row.what.contains(p)) {
                    pauses += minutes;
                }
                blocks.push(format!("{} {minutes}", row.name()));
                minutes
            }
        };
        total += counted;
    }
    seen.extend(rows.iter().filter_map(Row::section));
    let span = format!("{}-{}", hm(first.clock), hm(first.clock + total));
    let sum = format!("{total} min ({span}): {}", blocks.join(" + "));
    if path == Route::Half && total > SLOT {
        day.problems.push(format!(
            "{intro}: the half day adds up to {sum}: over the seed's {SLOT}-minute slot \
             (12:00-15:50) by {} min",
            total - SLOT
        ));
    }
    let mut line = format!("{name}: {sum}");
    if path == Route::Half {
        line.push_str(&format!("; the slot is {SLOT} min"));
    }
    if !planned.is_empty() {
        line.push_str(&format!(
            "; PLANNED, no deck yet (the intro's figures): {}",
            planned.join(", ")
        ));
    }
    day.summary.push(line);
    (total, pauses)
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

#[test]
fn the_core_path_fits_the_half_day_slot() {
    let ws = Workspace::load();
    let mut times = Vec::new();
    let mut intro = None;
    let mut problems = Vec::new();
    for path in decks(&ws.root) {
        let name = path
            .strip_prefix(&ws.root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = check(&name, &text, &ws, true);
        // Slides without a time are the structure test's to report; here they count nothing.
        if let Some(time) = DeckTime::of(&name, &report) {
            if time.section == 0 {
                intro = Some((name.clone(), text));
            }
            times.push(time);
        } else {
            problems.push(format!(
                "{name}: a deck's name starts with its section, NN-"
            ));
        }
    }
    let (intro, text) = intro.expect("slides/00-intro.md, whose day tables plan the day");
    let day = day(&intro, &text, &times, &ws);
    for line in &day.summary {
        println!("{line}");
    }
    problems.extend(day.problems);
    assert!(
        problems.is_empty(),
        "the day does not add up ({} problem(s)):\n  {}\n(the days as counted:\n  {})",
        problems.len(),
        problems.join("\n  "),
        day.summary.join("\n  ")
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

<!-- speaker_note: (1 min) one line, plain text -->

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

<!-- speaker_note: (1 min) the flagship -->

<!-- end_slide -->

Four
===

~~~text
an ASCII diagram: cargo test -p <crate>
~~~

<!-- speaker_note: (1 min) four -->

<!-- end_slide -->

Five
===

The end.

<!-- speaker_note: (1 min) five -->
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
            "<!-- speaker_note: (1 min) five -->\n",
            "<!-- speaker_note: (1 min) five -->\n\n```text\nnever closed\n",
        ),
        "this code fence is never closed",
    );
    expect_one(
        check_broken("<!-- speaker_note: (1 min) four -->", ""),
        "this slide has no speaker note",
    );
    expect_one(
        check_broken(
            "<!-- speaker_note: (1 min) four -->\n",
            "<!-- speaker_note: (1 min) four -->\n\n<!-- end_slide -->\n\n<!-- speaker_note: (1 min) alone -->\n",
        ),
        "is empty",
    );
    expect(
        check_broken(
            "<!-- speaker_note: (1 min) five -->",
            "<!-- speaker-note: (1 min) five -->",
        ),
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

// ---------------------------------------------------------------------------------------
// The day's check bites: a deck set that fits the slot passes; one that overruns it, one
// whose table disagrees with its decks, and one that hides a missing deck fail, saying so.

/// A deck of five slides, each noted with one of `times` (`"(3 min)"`, ...).
fn timed_deck(title: &str, times: &[&str]) -> String {
    let mut deck = format!("---\ntitle: {title}\n---\n");
    for (k, time) in times.iter().enumerate() {
        if k > 0 {
            deck.push_str("\n<!-- end_slide -->\n");
        }
        deck.push_str(&format!(
            "\nSlide {k}\n===\n\nText.\n\n<!-- speaker_note: {time} say it -->\n"
        ));
    }
    deck
}

/// An intro deck with a half-day and a full-day table, from their rows (`| time | min | what |`).
fn intro_deck(half: &[&str], full: &[&str]) -> String {
    let table = |rows: &[&str]| {
        let mut t = String::from("| time | min | what | exercises |\n| --- | --- | --- | --- |\n");
        for row in rows {
            t.push_str(row);
            t.push('\n');
        }
        t
    };
    let mut deck = timed_deck("Intro", &["(2 min)", "(2 min)", "(2 min)", "(2 min)"]);
    deck.push_str(&format!(
        "\n<!-- end_slide -->\n\nThe half day\n===\n\n{}\n<!-- speaker_note: (2 min) the day -->\n",
        table(half)
    ));
    deck.push_str(&format!(
        "\n<!-- end_slide -->\n\nThe full path\n===\n\n{}\n<!-- speaker_note: (0 min) the other -->\n",
        table(full)
    ));
    deck
}

/// The day of an intro and a section 9 deck (a section with no exercises).
fn day_of(intro: &str, section: &str) -> Day {
    let ws = Workspace::load();
    let mut times = Vec::new();
    for (name, text) in [
        ("slides/00-intro.md", intro),
        ("slides/09-tests.md", section),
    ] {
        let report = check(name, text, &ws, true);
        assert!(
            report.problems.is_empty(),
            "{name} should be a well-formed deck: {:#?}",
            report.problems
        );
        times.push(DeckTime::of(name, &report).expect("numbered"));
    }
    day(DAY_INTRO, intro, &times, &ws)
}

const DAY_INTRO: &str = "slides/00-intro.md";

const HALF: [&str; 5] = [
    "| 12:00 | 10 | intro | |",
    "| 12:10 | 200 | **9. Tests**: all of them | |",
    "| 15:30 | 10 | break | |",
    "| 15:40 | 10 | wrap-up | |",
    "| 15:50 | | end | |",
];
const FULL: [&str; 5] = [
    "| 9:00 | 10 | intro | |",
    "| 9:10 | 220 | **9. Tests**: all of them | |",
    "| 12:50 | 10 | break | |",
    "| 13:00 | 10 | wrap-up | |",
    "| 13:10 | | end | |",
];
const TESTS: [&str; 5] = [
    "(100 min)",
    "(90 min, then questions)",
    "(9 min)",
    "(1 min)",
    "(20 min, full day only)",
];

#[test]
fn a_day_that_fits_the_slot_passes_and_is_added_up() {
    let day = day_of(&intro_deck(&HALF, &FULL), &timed_deck("Tests", &TESTS));
    assert!(day.problems.is_empty(), "{:#?}", day.problems);
    assert_eq!(
        day.summary,
        [
            "half day: 230 min (12:00-15:50): intro 10 (slides/00-intro.md) + 9. Tests 200 \
             (slides/09-tests.md) + break 10 + wrap-up 10; the slot is 230 min",
            "full path: 250 min (9:00-13:10): intro 10 (slides/00-intro.md) + 9. Tests 220 \
             (slides/09-tests.md) + break 10 + wrap-up 10",
        ]
    );
}

#[test]
fn a_deck_set_that_overruns_the_slot_fails_naming_the_total_and_the_blocks() {
    // One more slide of 15 minutes, and a table that says nothing of it: the decks count.
    let mut times = TESTS.to_vec();
    times.push("(15 min)");
    let day = day_of(&intro_deck(&HALF, &FULL), &timed_deck("Tests", &times));
    expect(
        day.problems,
        &[
            "slides/00-intro.md: the half day adds up to 245 min (12:00-16:05): intro 10 \
             (slides/00-intro.md) + 9. Tests 215 (slides/09-tests.md) + break 10 + wrap-up 10: \
             over the seed's 230-minute slot (12:00-15:50) by 15 min",
            "the half day table plans 200 min for 9. Tests, and the slides of \
             slides/09-tests.md add up to 215 min on the half day",
            "the full path table plans 220 min for 9. Tests, and the slides of \
             slides/09-tests.md add up to 235 min on the full path",
        ],
    );
    // The table alone cannot make room: the clock must add up.
    let mut half = HALF;
    half[1] = "| 12:10 | 150 | **9. Tests**: all of them | |";
    let day = day_of(&intro_deck(&half, &FULL), &timed_deck("Tests", &TESTS));
    expect(
        day.problems,
        &[
            "the half day table says 12:10 + 150 min, and its next row starts at 15:30",
            "the half day table plans 150 min for 9. Tests, and the slides of \
             slides/09-tests.md add up to 200 min",
        ],
    );
}

#[test]
fn a_block_without_its_deck_counts_its_plan_and_says_so() {
    let mut half = HALF.to_vec();
    half[1] = "| 12:10 | 170 | **9. Tests**: all of them | |";
    half.insert(
        2,
        "| 15:00 | 30 | **8. Later**: not written yet (planned) | |",
    );
    let mut full = FULL.to_vec();
    full[1] = "| 9:10 | 190 | **9. Tests**: all of them | |";
    full.insert(2, "| 12:20 | 30 | **8. Later** (planned) | |");
    let mut times = TESTS.to_vec();
    times[1] = "(60 min)";
    let deck = timed_deck("Tests", &times);
    let day = day_of(&intro_deck(&half, &full), &deck);
    assert!(day.problems.is_empty(), "{:#?}", day.problems);
    assert!(
        day.summary[0].contains("8. Later 30 (planned: no deck yet)")
            && day.summary[0]
                .ends_with("; PLANNED, no deck yet (the intro's figures): 8. Later 30"),
        "{:#?}",
        day.summary
    );
    // The same plan, not marked as one, is a claim that a deck times it.
    let hidden = half[2].replace(" (planned)", "");
    half[2] = &hidden;
    let day = day_of(&intro_deck(&half, &full), &deck);
    expect_one(
        day.problems,
        "8. Later has no deck yet (slides/08-*.md), so its 30 min are a plan: say `(planned)`",
    );
    // A deck the table forgets.
    let day = day_of(&intro_deck(&HALF[2..], &FULL), &timed_deck("Tests", &TESTS));
    assert!(
        day.problems
            .iter()
            .any(|p| p.contains("the half day has no row for slides/09-tests.md")),
        "{:#?}",
        day.problems
    );
}

#[test]
fn a_slide_without_its_time_is_reported() {
    let ws = Workspace::load();
    let deck = timed_deck("Tests", &TESTS).replace("(9 min) say it", "say it");
    expect_one(
        check("slides/09-tests.md", &deck, &ws, true).problems,
        "this speaker note does not start with the slide's time",
    );
    expect_one(
        check_broken("(2 min) Run", "(2 minutes) Run"),
        "does not start with the slide's time",
    );
}
