//! The exercises a workspace holds, read from the solutions, which are their single source.
//!
//! Layout (DESIGN.md): `solutions/<section>/<NN>-<name>/` is a crate named `<name>-solution`;
//! `exercises/<section>/<NN>-<name>/` is the crate generated from it, named `<name>`. The
//! number in the folder gives the order, the package names never carry it, so renumbering
//! changes folders only. Each solution's `Cargo.toml` carries what `lab` shows:
//!
//! ```toml
//! [package.metadata.lab]
//! title = "Remote calls"   # shown by `cargo lab`
//! minutes = 25             # how long it takes in the room
//! core = true              # on the half-day path
//! benches = ["dedup"]      # optional: criterion benches, each benches/<name>.rs
//! ```
//!
//! The brief is the crate's `README.md`. The hints are not in it: they live in [`HINTS`]
//! beside the solution, one `## ` section each, and `cargo lab hint` reveals them one at a
//! time. The generator leaves that file out of the exercise, so nothing an attendee opens
//! while working (the brief, the skeleton) gives the next hint away.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the lab lives: the workspace root that has `solutions/` and `exercises/`.
pub fn find_root() -> Result<PathBuf, String> {
    // Tests and maintainers can point `lab` at another workspace (a fixture copy, say).
    if let Some(root) = std::env::var_os("LAB_ROOT") {
        return Ok(PathBuf::from(root));
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    for dir in cwd.ancestors() {
        if dir.join("solutions").is_dir() && dir.join("Cargo.toml").is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    // `cargo lab` from outside the checkout: the workspace this binary was built from.
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if built_from.join("solutions").is_dir() {
        return Ok(built_from.canonicalize().unwrap_or(built_from));
    }
    Err("cannot find the lab: run `cargo lab` inside the lab's checkout".into())
}

/// One exercise: a solution crate and the exercise crate generated from it.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// The position in the workshop, from the folder name (`01-remote-calls` is 1).
    pub number: u32,
    /// The folder name without its number, which is also the exercise's package name.
    pub name: String,
    /// The section folder, e.g. `1-distribution`.
    pub section: String,
    /// Path of the exercise below `solutions/` and `exercises/`, e.g.
    /// `1-distribution/01-remote-calls`.
    pub rel: PathBuf,
    pub title: String,
    pub minutes: u32,
    /// On the half-day core path.
    pub core: bool,
    /// The solution's criterion benchmarks (`benches/<name>.rs`, `cargo bench -p <solution>
    /// --bench <name>`), from `benches` in the metadata; none if it has no such list.
    pub benches: Vec<String>,
}

impl Exercise {
    /// The attendee's package (`remote-calls`).
    pub fn package(&self) -> &str {
        &self.name
    }

    /// The reference solution's package (`remote-calls-solution`). Ask here rather than
    /// format it: this is the one place that knows the rule.
    pub fn solution_package(&self) -> String {
        solution_package_of(&self.name)
    }

    /// The Rust name of a package's library (`remote-calls` -> `remote_calls`).
    pub fn crate_ident(package: &str) -> String {
        package.replace('-', "_")
    }

    pub fn solution_dir(&self, root: &Path) -> PathBuf {
        root.join("solutions").join(&self.rel)
    }

    pub fn exercise_dir(&self, root: &Path) -> PathBuf {
        root.join("exercises").join(&self.rel)
    }

    /// The brief, relative to the root (for messages an attendee can click).
    pub fn brief(&self) -> PathBuf {
        Path::new("exercises").join(&self.rel).join("README.md")
    }

    /// The section's display name: `1-distribution` -> `Distribution`.
    pub fn section_title(&self) -> String {
        let words = self
            .section
            .split_once('-')
            .map_or(self.section.as_str(), |(_, w)| w);
        let mut title: String = words.replace('-', " ");
        if let Some(first) = title.get(0..1) {
            title.replace_range(0..1, &first.to_uppercase());
        }
        title
    }

    /// `01 remote-calls`: how every message names an exercise.
    pub fn label(&self) -> String {
        format!("{:02} {}", self.number, self.name)
    }

    /// The hints, from [`HINTS`] beside the solution (none if the file is missing).
    pub fn hints(&self, root: &Path) -> Result<Vec<Hint>, String> {
        let file = self.solution_dir(root).join(HINTS);
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(parse_hints(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
        }
    }
}

impl fmt::Display for Exercise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Every exercise of the workspace in workshop order, plus what could not be read.
#[derive(Debug)]
pub struct Catalog {
    pub root: PathBuf,
    pub exercises: Vec<Exercise>,
    /// One line per folder that is not a well-formed exercise; `verify` reports them.
    pub problems: Vec<String>,
}

impl Catalog {
    pub fn load(root: &Path) -> Result<Catalog, String> {
        let solutions = root.join("solutions");
        let mut catalog = Catalog {
            root: root.to_path_buf(),
            exercises: Vec::new(),
            problems: Vec::new(),
        };
        for section in subdirs(&solutions)? {
            let section_name = file_name(&section);
            if !is_numbered(&section_name) {
                continue;
            }
            for dir in subdirs(&section)? {
                let folder = file_name(&dir);
                let rel = Path::new(&section_name).join(&folder);
                match read_exercise(&dir, &section_name, &folder, rel) {
                    Ok(exercise) => catalog.exercises.push(exercise),
                    Err(problem) => catalog
                        .problems
                        .push(format!("solutions/{section_name}/{folder}: {problem}")),
                }
            }
        }
        catalog.exercises.sort_by_key(|e| e.number);
        for pair in catalog.exercises.windows(2) {
            if pair[0].number == pair[1].number {
                catalog.problems.push(format!(
                    "{} and {} share the number {:02}; number exercises once across all sections",
                    pair[0].rel.display(),
                    pair[1].rel.display(),
                    pair[0].number
                ));
            }
        }
        Ok(catalog)
    }

    /// Resolves what an attendee typed: `1`, `01`, `remote-calls` or `01-remote-calls`.
    pub fn find(&self, arg: &str) -> Result<&Exercise, String> {
        let arg = arg.trim().trim_end_matches('/');
        let wanted = arg.rsplit('/').next().unwrap_or(arg);
        let by_number = wanted.parse::<u32>().ok();
        self.exercises
            .iter()
            .find(|e| {
                Some(e.number) == by_number
                    || e.name == wanted
                    || e.solution_package() == wanted
                    || file_name(&e.rel) == wanted
            })
            .ok_or_else(|| self.what_exists(arg))
    }

    /// The one line a bad exercise argument gets.
    pub fn what_exists(&self, arg: &str) -> String {
        match (self.exercises.first(), self.exercises.last()) {
            (Some(first), Some(last)) if self.exercises.len() > 1 => format!(
                "no exercise {arg:?}: give a number from {} to {} or a name ({})",
                first.number,
                last.number,
                self.exercises
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (Some(only), _) => format!(
                "no exercise {arg:?}: the only one is {} ({})",
                only.number, only.name
            ),
            _ => format!("no exercise {arg:?}: this lab has no exercises yet"),
        }
    }
}

fn read_exercise(
    dir: &Path,
    section: &str,
    folder: &str,
    rel: PathBuf,
) -> Result<Exercise, String> {
    let (number, name) = folder
        .split_once('-')
        .and_then(|(n, name)| Some((n.parse::<u32>().ok()?, name)))
        .ok_or("the folder name must be <number>-<name>, e.g. 01-remote-calls")?;
    let manifest_path = dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let manifest: toml::Table =
        toml::from_str(&manifest).map_err(|e| format!("Cargo.toml does not parse: {e}"))?;
    let package = manifest
        .get("package")
        .and_then(|p| p.as_table())
        .ok_or("Cargo.toml has no [package]")?;
    let expected = solution_package_of(name);
    let package_name = package
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or_default();
    if package_name != expected {
        return Err(format!(
            "the package is named {package_name:?}; a solution in {folder} must be named {expected:?}"
        ));
    }
    let lab = package
        .get("metadata")
        .and_then(|m| m.get("lab"))
        .and_then(|l| l.as_table())
        .ok_or("Cargo.toml has no [package.metadata.lab] (title, minutes, core)")?;
    let title = lab
        .get("title")
        .and_then(|v| v.as_str())
        .ok_or("[package.metadata.lab] needs title = \"...\"")?;
    let minutes = lab
        .get("minutes")
        .and_then(|v| v.as_integer())
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or("[package.metadata.lab] needs minutes = <a positive number>")?;
    let core = lab
        .get("core")
        .and_then(|v| v.as_bool())
        .ok_or("[package.metadata.lab] needs core = true or false")?;
    let benches = match lab.get("benches") {
        None => Vec::new(),
        Some(list) => list
            .as_array()
            .and_then(|list| list.iter().map(|b| b.as_str().map(String::from)).collect())
            .ok_or("[package.metadata.lab] benches must be a list of names, e.g. [\"ring\"]")?,
    };
    if let Some(missing) = benches
        .iter()
        .find(|b| !dir.join("benches").join(format!("{b}.rs")).is_file())
    {
        return Err(format!(
            "[package.metadata.lab] benches names {missing:?}, but there is no benches/{missing}.rs"
        ));
    }
    Ok(Exercise {
        number,
        name: name.to_string(),
        section: section.to_string(),
        rel,
        title: title.to_string(),
        minutes,
        core,
        benches,
    })
}

/// The solution package of the exercise package `name`.
pub(crate) fn solution_package_of(name: &str) -> String {
    format!("{name}-solution")
}

/// One hint: its summary line (`Hint 1: where to start`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub summary: String,
    pub text: String,
}

/// The hints file of a solution crate, which the exercise does not get.
pub const HINTS: &str = "HINTS.md";

/// The `## ` sections of a hints file, in order: the heading is the summary, the rest its
/// text (the title and any words before the first section are not hints).
pub fn parse_hints(file: &str) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let mut in_fence = false;
    for line in file.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        match line.strip_prefix("## ") {
            Some(summary) if !in_fence => {
                if let Some((summary, body)) = current.take() {
                    hints.push(Hint {
                        summary,
                        text: body.join("\n").trim().to_string(),
                    });
                }
                current = Some((summary.trim().to_string(), Vec::new()));
            }
            _ => {
                if let Some((_, body)) = current.as_mut() {
                    body.push(line);
                }
            }
        }
    }
    if let Some((summary, body)) = current {
        hints.push(Hint {
            summary,
            text: body.join("\n").trim().to_string(),
        });
    }
    hints
}

pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_numbered(name: &str) -> bool {
    name.split_once('-')
        .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_the_sections_of_the_hints_file() {
        let file = "# Hints: 01\n\nShown one at a time.\n\n## Hint 1: a nudge\n\nLook at the ids.\n\n## Hint 2\n\nUse a map:\n```\n## not a heading, code\n```\n";
        let hints = parse_hints(file);
        assert_eq!(
            hints,
            vec![
                Hint {
                    summary: "Hint 1: a nudge".into(),
                    text: "Look at the ids.".into()
                },
                Hint {
                    summary: "Hint 2".into(),
                    text: "Use a map:\n```\n## not a heading, code\n```".into()
                },
            ]
        );
    }
}
