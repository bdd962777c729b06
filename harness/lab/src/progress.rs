//! What `lab` remembers between runs, under the git-ignored `.lab/` of the workspace.
//!
//! - `.lab/progress.json`: per exercise package, the hash of its sources when its tests last
//!   ran and what they said, and the hash its untouched skeleton has. Keys are package names,
//!   which never carry the exercise's number, so renumbering or pulling new exercises leaves
//!   every entry valid; an entry whose hash no longer matches is simply run again.
//! - `.lab/hints.json`: how many hints of each exercise have been shown.
//! - `.lab/backups/<package>/<time>-<why>/`: the attendee's files before `reset` or `solve`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::render::list_files;

/// A hash of a crate's files (paths and contents), build output left out. FNV-1a: tiny, and
/// stable across Rust releases, unlike `DefaultHasher`, so the cache survives a toolchain
/// update.
pub fn hash_dir(dir: &Path) -> Result<String, String> {
    let mut files = BTreeMap::new();
    for rel in list_files(dir)? {
        let bytes = std::fs::read(dir.join(&rel))
            .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
        files.insert(rel, bytes);
    }
    Ok(hash_files(&files))
}

/// The same hash over files held in memory (a rendered skeleton).
pub fn hash_files(files: &BTreeMap<PathBuf, Vec<u8>>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (rel, bytes) in files {
        feed(rel.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&(bytes.len() as u64).to_le_bytes());
        feed(bytes);
    }
    format!("{hash:016x}")
}

/// The outcome of an exercise's tests for one version of its sources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// Hash of the exercise's sources the run was for.
    pub hash: String,
    pub passed: usize,
    pub total: usize,
    /// The crate did not compile.
    #[serde(default)]
    pub broken: bool,
}

impl Outcome {
    pub fn passing(&self) -> bool {
        !self.broken && self.total > 0 && self.passed == self.total
    }
}

/// `.lab/progress.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Last test outcome per exercise package.
    #[serde(default)]
    pub results: BTreeMap<String, Outcome>,
    /// Per exercise package: the hash of its solution, and the hash of the skeleton rendered
    /// from it. Rendering needs rustfmt, so it is done once per version of the solution.
    #[serde(default)]
    pub skeletons: BTreeMap<String, (String, String)>,
}

/// The `.lab/` directory of a workspace.
pub struct State {
    dir: PathBuf,
}

impl State {
    pub fn new(root: &Path) -> State {
        State {
            dir: root.join(".lab"),
        }
    }

    pub fn progress(&self) -> Progress {
        self.read("progress.json").unwrap_or_default()
    }

    pub fn save_progress(&self, progress: &Progress) -> Result<(), String> {
        self.write("progress.json", progress)
    }

    pub fn hints_shown(&self, package: &str) -> usize {
        self.read::<BTreeMap<String, usize>>("hints.json")
            .unwrap_or_default()
            .get(package)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_hints_shown(&self, package: &str, shown: usize) -> Result<(), String> {
        let mut hints = self
            .read::<BTreeMap<String, usize>>("hints.json")
            .unwrap_or_default();
        hints.insert(package.to_string(), shown);
        self.write("hints.json", &hints)
    }

    /// Copies `dir` (the attendee's crate) to a new backup and returns where it went.
    pub fn backup(&self, package: &str, dir: &Path, why: &str) -> Result<PathBuf, String> {
        let base = self.dir.join("backups").join(package);
        let stamp = utc_stamp();
        let mut target = base.join(format!("{stamp}-{why}"));
        let mut n = 2;
        while target.exists() {
            target = base.join(format!("{stamp}-{why}-{n}"));
            n += 1;
        }
        for rel in list_files(dir)? {
            let to = target.join(&rel);
            std::fs::create_dir_all(to.parent().expect("a file has a parent"))
                .and_then(|()| std::fs::copy(dir.join(&rel), &to))
                .map_err(|e| {
                    format!("cannot back up {} to {}: {e}", rel.display(), to.display())
                })?;
        }
        Ok(target)
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Option<T> {
        // A corrupt or foreign file is treated as empty: it only costs a rerun.
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let text = serde_json::to_string_pretty(value).expect("lab state serialises");
        // Write then rename, so an interrupted run never leaves half a file.
        let tmp = self.dir.join(format!("{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(name)))
            .map_err(|e| format!("cannot write {}: {e}", self.dir.join(name).display()))
    }
}

/// `2025-11-24T13-05-09Z`: sortable and valid in a file name.
fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
