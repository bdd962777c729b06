//! From a solution crate to the files of its exercise crate.
//!
//! Every file of the solution is copied (the build's `target/` aside, and the hints file,
//! which stays with the solution: see [`crate::catalog::HINTS`]), changed only where the
//! exercise must differ:
//! - `Cargo.toml`: the package name (`remote-calls-solution` -> `remote-calls`); the library
//!   and the node binary take their names from it;
//! - `*.rs`: the solution regions ([`crate::markers`]) and the crate name the tests import
//!   (`remote_calls_solution` -> `remote_calls`), then rustfmt, so the output is formatted;
//! - everything else (the brief, data files): as is.
//!
//! [`Side::Solution`] renders the reference code under the exercise's names instead: what
//! `cargo lab solve` puts in place and what `cargo lab diff` compares with.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::catalog::Exercise;
pub use crate::markers::Side;

/// The files of an exercise crate, by path relative to the crate, plus its `todo!()` sentences.
#[derive(Debug, Default)]
pub struct Crate {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub todos: Vec<String>,
}

/// Renders `exercise`'s crate from its solution.
pub fn render(root: &Path, exercise: &Exercise, side: Side) -> Result<Crate, String> {
    let source_dir = exercise.solution_dir(root);
    let from = exercise.solution_package();
    let to = exercise.package().to_string();
    let rustfmt = Rustfmt::for_root(root);
    let mut out = Crate::default();
    for rel in list_files(&source_dir)? {
        if rel == Path::new(crate::catalog::HINTS) {
            continue;
        }
        let path = source_dir.join(&rel);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let shown = Path::new("solutions").join(&exercise.rel).join(&rel);
        let rendered = if rel == Path::new("Cargo.toml") {
            rename_package(&text(bytes, &shown)?, &from, &to)
                .ok_or_else(|| {
                    format!(
                        "{}: no `name = {from:?}` line in [package]",
                        shown.display()
                    )
                })?
                .into_bytes()
        } else if rel.extension().is_some_and(|e| e == "rs") {
            let source = text(bytes, &shown)?;
            let regions = crate::markers::render(&source, side)
                .map_err(|e| format!("{}: {e}", shown.display()))?;
            out.todos.extend(regions.todos);
            let renamed = rename_ident(
                &regions.text,
                &Exercise::crate_ident(&from),
                &Exercise::crate_ident(&to),
            );
            let renamed = rename_ident(&renamed, &from, &to);
            rustfmt
                .format(&renamed)
                .map_err(|e| format!("{}: {e}", shown.display()))?
                .into_bytes()
        } else {
            bytes
        };
        out.files.insert(rel, rendered);
    }
    Ok(out)
}

fn text(bytes: Vec<u8>, shown: &Path) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", shown.display()))
}

/// Every file below `dir` as a sorted relative path, leaving out build output and hidden files.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" || name == "Cargo.lock" {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                out.push(
                    path.strip_prefix(base)
                        .expect("walk stays below its base")
                        .to_path_buf(),
                );
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut files)?;
    }
    files.sort();
    Ok(files)
}

/// Changes the `name` of `[package]` from `from` to `to`, and the name of an `[[example]]`
/// named after the package (a code demo, see the lab's `demo`), so the two crates' examples
/// never collide in `target/`. Every other byte is left alone.
fn rename_package(manifest: &str, from: &str, to: &str) -> Option<String> {
    let mut in_package = false;
    let mut in_example = false;
    let mut done = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_package = trimmed == "[package]";
            in_example = trimmed == "[[example]]";
        }
        let is_name = trimmed
            .strip_prefix("name")
            .map(|r| r.trim_start())
            .and_then(|r| r.strip_prefix('='))
            .is_some_and(|r| r.trim() == format!("\"{from}\""));
        if is_name && (in_example || (in_package && !done)) {
            out.push_str(&line.replacen(&format!("\"{from}\""), &format!("\"{to}\""), 1));
            done |= in_package;
        } else {
            out.push_str(line);
        }
    }
    done.then_some(out)
}

/// Replaces `from` where it stands as a whole name (not inside a longer identifier).
fn rename_ident(source: &str, from: &str, to: &str) -> String {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// rustfmt with the workspace's edition and configuration, fed on stdin.
pub struct Rustfmt {
    config: Option<PathBuf>,
    edition: String,
}

impl Rustfmt {
    pub fn for_root(root: &Path) -> Rustfmt {
        let config = ["rustfmt.toml", ".rustfmt.toml"]
            .iter()
            .map(|n| root.join(n))
            .find(|p| p.is_file());
        Rustfmt {
            config,
            edition: workspace_edition(root),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("rustfmt");
        cmd.args(["--edition", &self.edition]);
        if let Some(config) = &self.config {
            cmd.arg("--config-path").arg(config);
        }
        cmd
    }

    pub fn format(&self, source: &str) -> Result<String, String> {
        let mut child = self
            .command()
            .args(["--emit", "stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run rustfmt ({e}); install it with `rustup component add rustfmt`")
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = source.to_string();
        // Written from a thread so a large file cannot deadlock against rustfmt's output.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child
            .wait_with_output()
            .map_err(|e| format!("rustfmt failed: {e}"))?;
        let _ = writer.join();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("rustfmt cannot format it: {}", stderr.trim()));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| "rustfmt wrote something that is not UTF-8".into())
    }

    /// The files that rustfmt would change, as paths relative to `dir`.
    pub fn unformatted(&self, dir: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
        let mut changed = Vec::new();
        for rel in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let source = std::fs::read_to_string(dir.join(rel))
                .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
            if self.format(&source)? != source {
                changed.push(rel.clone());
            }
        }
        Ok(changed)
    }
}

/// The edition in `[workspace.package]`, which every crate of the lab inherits.
fn workspace_edition(root: &Path) -> String {
    std::fs::read_to_string(root.join("Cargo.toml"))
        .ok()
        .and_then(|m| toml::from_str::<toml::Table>(&m).ok())
        .and_then(|m| {
            m.get("workspace")?
                .get("package")?
                .get("edition")?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "2024".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_package_name_changes_in_the_manifest() {
        let manifest =
            "[package]\nname = \"adder-solution\"\n\n[dependencies]\nname = \"adder-solution\"\n";
        assert_eq!(
            rename_package(manifest, "adder-solution", "adder").unwrap(),
            "[package]\nname = \"adder\"\n\n[dependencies]\nname = \"adder-solution\"\n"
        );
        assert!(
            rename_package("[package]\nname = \"other\"\n", "adder-solution", "adder").is_none()
        );
    }

    #[test]
    fn an_example_named_after_the_package_is_renamed_with_it() {
        let manifest = "[package]\nname = \"adder-solution\"\n\n[[example]]\nname = \"adder-solution\"\npath = \"examples/demo.rs\"\n\n[[example]]\nname = \"other\"\n";
        assert_eq!(
            rename_package(manifest, "adder-solution", "adder").unwrap(),
            "[package]\nname = \"adder\"\n\n[[example]]\nname = \"adder\"\npath = \"examples/demo.rs\"\n\n[[example]]\nname = \"other\"\n"
        );
    }

    #[test]
    fn crate_names_are_renamed_only_as_whole_names() {
        let source = "use adder_solution::add;\nlet x = my_adder_solution; adder_solution_x; adder_solution::y";
        assert_eq!(
            rename_ident(source, "adder_solution", "adder"),
            "use adder::add;\nlet x = my_adder_solution; adder_solution_x; adder::y"
        );
    }
}
