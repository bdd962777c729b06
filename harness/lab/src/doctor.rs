//! `cargo lab doctor`: is this seat ready for the workshop? Each check says ok, a warning, or
//! a failure with the one thing to do about it. Exit status 0 when nothing failed.
//!
//! What breaks a seat, from workshops run before: an old toolchain (the workspace needs
//! `rust-version`), rustfmt or clippy missing, dependencies not fetched before the Wi-Fi
//! gives out, no loopback networking, a low open-file limit (a cluster test opens hundreds of
//! sockets), a full disk, and on WSL a checkout under a Windows mount (`/mnt/c`), where builds
//! crawl and file changes go unseen. Docker is optional: only the container demos need it.
//!
//! Each check is a function of what it observed, so the tests can feed it a broken seat.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::catalog::find_root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but worth knowing (an optional tool missing, a tight limit).
    Warn,
    /// The workshop will not work here until this is fixed.
    Fail,
}

/// One check's verdict: what was found, and for anything but ok, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub found: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, found: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            found: found.into(),
            fix: None,
        }
    }

    fn bad(
        name: &'static str,
        status: Status,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name,
            status,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The open-file limit a seat needs: a 5-node cluster test with its proxies holds a few
/// hundred sockets, and the kit raises a node's soft limit to the hard one.
pub const NOFILE_NEEDED: u64 = 1024;

/// Free disk a seat needs: the workspace's target directory grows to a few gigabytes.
pub const DISK_NEEDED: u64 = 4 << 30;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn run(_args: DoctorArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return crate::refuse(&e),
    };
    println!("lab doctor: is this seat ready for the workshop?\n");
    let checks = all(&root);
    for check in &checks {
        let mark = match check.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        println!("  {mark}  {:<12} {}", check.name, check.found);
        if let Some(fix) = &check.fix {
            println!("        {:<12} -> {fix}", "");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed == 0 {
        println!("\nthe seat is ready: `cargo lab` shows where to start");
        ExitCode::SUCCESS
    } else {
        println!(
            "\n{failed} check(s) failed: fix the lines marked FAIL, then run `cargo lab doctor` again"
        );
        ExitCode::FAILURE
    }
}

/// Every check, in the order a person would fix them.
pub fn all(root: &Path) -> Vec<Check> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let required = required_rust(root);
    vec![
        toolchain(
            output(Command::new(&rustc).arg("--version")).as_deref(),
            required.as_deref(),
        ),
        component(
            "rustfmt",
            output(Command::new(&cargo).args(["fmt", "--version"])).as_deref(),
        ),
        component(
            "clippy",
            output(Command::new(&cargo).args(["clippy", "--version"])).as_deref(),
        ),
        fetched(
            Command::new(&cargo)
                .args(["metadata", "--offline", "--locked", "--format-version", "1"])
                .current_dir(root)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                }),
        ),
        loopback(),
        nofile(open_file_limit()),
        disk(free_bytes(root)),
        docker(
            output(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
                .as_deref(),
        ),
        wsl_mount(
            std::fs::read_to_string("/proc/version").ok().as_deref(),
            root,
        ),
    ]
}

/// What a command printed on stdout, if it ran and succeeded.
fn output(command: &mut Command) -> Option<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The workspace's `rust-version`, from its Cargo.toml.
fn required_rust(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let manifest: toml::Table = text.parse().ok()?;
    manifest
        .get("workspace")?
        .get("package")?
        .get("rust-version")?
        .as_str()
        .map(str::to_string)
}

fn version(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.split('.').map(|p| p.trim().parse::<u64>().ok());
    Some((parts.next()??, parts.next()??))
}

/// `rustc --version` (`rustc 1.88.0 (...)`) against the workspace's `rust-version`.
pub fn toolchain(rustc: Option<&str>, required: Option<&str>) -> Check {
    let name = "toolchain";
    let Some(said) = rustc else {
        return Check::bad(
            name,
            Status::Fail,
            "rustc does not run",
            "install Rust with rustup: https://rustup.rs",
        );
    };
    let found = said.split_whitespace().nth(1).and_then(version);
    let needed = required.and_then(version);
    match (found, needed) {
        (Some(found), Some(needed)) if found < needed => Check::bad(
            name,
            Status::Fail,
            format!(
                "{said}; the workspace needs {} or newer",
                required.unwrap_or_default()
            ),
            "rustup update stable",
        ),
        (Some(_), _) => Check::ok(name, said),
        (None, _) => Check::bad(
            name,
            Status::Warn,
            format!("cannot read the version in {said:?}"),
            "rustc --version should say `rustc 1.NN.N`",
        ),
    }
}

/// A cargo component (`cargo fmt --version`, `cargo clippy --version`).
pub fn component(which: &'static str, said: Option<&str>) -> Check {
    match said {
        Some(said) => Check::ok(which, said),
        None => Check::bad(
            which,
            Status::Fail,
            format!("cargo {which} does not run"),
            format!("rustup component add {which}"),
        ),
    }
}

/// `cargo metadata --offline --locked`: every dependency is in the local cache already.
pub fn fetched(result: std::io::Result<(bool, String)>) -> Check {
    let name = "fetched";
    match result {
        Ok((true, _)) => Check::ok(
            name,
            "every dependency is on this machine: builds work offline",
        ),
        Ok((false, stderr)) => {
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("cargo failed")
                .trim()
                .to_string();
            Check::bad(
                name,
                Status::Fail,
                first,
                "cargo fetch (before the workshop, on a network that works)",
            )
        }
        Err(e) => Check::bad(
            name,
            Status::Fail,
            format!("cargo does not run: {e}"),
            "install Rust with rustup: https://rustup.rs",
        ),
    }
}

/// Loopback: the harness runs every node on 127.0.0.1, each on a port the OS picks.
pub fn loopback() -> Check {
    let name = "loopback";
    let mut held = Vec::new();
    for _ in 0..32 {
        match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => held.push(listener),
            Err(e) => {
                return Check::bad(
                    name,
                    Status::Fail,
                    format!(
                        "cannot listen on 127.0.0.1 ({e}) after {} ports",
                        held.len()
                    ),
                    "the lab needs loopback networking: check a firewall or sandbox that blocks 127.0.0.1",
                );
            }
        }
    }
    let connect = held
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(std::net::TcpStream::connect);
    match connect {
        Some(Ok(_)) => Check::ok(name, "32 ports on 127.0.0.1 listen and accept"),
        _ => Check::bad(
            name,
            Status::Fail,
            "cannot connect to 127.0.0.1",
            "check a firewall or sandbox that blocks 127.0.0.1",
        ),
    }
}

/// The open-file limit as (soft, hard), where the platform tells it.
// `rlim_t` is 64 bits here, 32 on some platforms: the casts are for those.
#[allow(clippy::unnecessary_cast)]
fn open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass, nothing else.
        let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        (got == 0).then_some((limit.rlim_cur as u64, limit.rlim_max as u64))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The open-file limit: the kit raises a node's soft limit to the hard one, so the hard one
/// is what counts; a low soft one is worth a word (other tools do not raise theirs).
pub fn nofile(limit: Option<(u64, u64)>) -> Check {
    let name = "open files";
    match limit {
        None => Check::ok(name, "not measured on this platform"),
        Some((_, hard)) if hard < NOFILE_NEEDED => Check::bad(
            name,
            Status::Fail,
            format!("at most {hard} open files (hard limit); a cluster test needs {NOFILE_NEEDED}"),
            format!(
                "raise the hard limit (`ulimit -Hn {NOFILE_NEEDED}` as root, or /etc/security/limits.conf; macOS: `sudo launchctl limit maxfiles 65536 200000`)"
            ),
        ),
        Some((soft, hard)) if soft < NOFILE_NEEDED => Check::bad(
            name,
            Status::Warn,
            format!(
                "soft limit {soft}, hard {hard}: the lab's nodes raise theirs, other tools may not"
            ),
            format!("ulimit -n {NOFILE_NEEDED} in this shell"),
        ),
        Some((soft, hard)) => Check::ok(name, format!("soft limit {soft}, hard {hard}")),
    }
}

/// Free bytes on the file system holding `dir`, where the platform tells it.
// The field types differ between platforms: the casts are for the narrower ones.
#[allow(clippy::unnecessary_cast)]
fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: a zeroed statvfs is a valid value to be overwritten.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: the path is a valid C string and statvfs writes only into `stats`.
        let got = unsafe { libc::statvfs(path.as_ptr(), &mut stats) };
        (got == 0).then(|| stats.f_bavail as u64 * stats.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

pub fn disk(free: Option<u64>) -> Check {
    let name = "disk";
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    match free {
        None => Check::ok(name, "not measured on this platform"),
        Some(free) if free < DISK_NEEDED => Check::bad(
            name,
            Status::Fail,
            format!(
                "{:.1} GiB free; the builds need about {:.0} GiB",
                gib(free),
                gib(DISK_NEEDED)
            ),
            "free some space (`cargo clean` in other projects frees the most)",
        ),
        Some(free) => Check::ok(name, format!("{:.1} GiB free", gib(free))),
    }
}

/// Docker: optional, for the container demos (`docker-compose.yml`).
pub fn docker(version: Option<&str>) -> Check {
    match version {
        Some(v) if !v.is_empty() => {
            Check::ok("docker", format!("engine {v} (for the container demos)"))
        }
        _ => Check::bad(
            "docker",
            Status::Warn,
            "no Docker engine answers (optional: only the container demos need one)",
            "skip it, or install Docker and start its engine for `cargo lab scenario run ... --target compose`",
        ),
    }
}

/// WSL with the checkout under a Windows drive (`/mnt/c/...`): builds crawl and file changes
/// are not seen by watchers.
pub fn wsl_mount(proc_version: Option<&str>, root: &Path) -> Check {
    let name = "checkout";
    let wsl = proc_version.is_some_and(|v| v.to_lowercase().contains("microsoft"));
    if wsl && root.starts_with("/mnt") {
        return Check::bad(
            name,
            Status::Fail,
            format!("{} is on a Windows drive, under WSL", root.display()),
            "clone the lab under your Linux home (`cd ~ && git clone ...`): builds are many times faster there",
        );
    }
    Check::ok(name, root.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_toolchain_fails_with_the_command_that_fixes_it() {
        let old = toolchain(Some("rustc 1.80.1 (3f5fd8dd4 2024-08-06)"), Some("1.88"));
        assert_eq!(old.status, Status::Fail, "{old:?}");
        assert_eq!(old.fix.as_deref(), Some("rustup update stable"));
        assert_eq!(
            toolchain(Some("rustc 1.88.0 (6b00bc388 2025-06-23)"), Some("1.88")).status,
            Status::Ok
        );
        assert_eq!(
            toolchain(Some("rustc 1.95.0"), Some("1.88")).status,
            Status::Ok
        );
        assert_eq!(toolchain(None, Some("1.88")).status, Status::Fail);
    }

    #[test]
    fn a_low_open_file_limit_fails_and_a_low_soft_one_warns() {
        assert_eq!(nofile(Some((256, 256))).status, Status::Fail);
        assert!(nofile(Some((256, 256))).fix.unwrap().contains("ulimit -Hn"));
        assert_eq!(nofile(Some((256, 65536))).status, Status::Warn);
        assert_eq!(nofile(Some((4096, 65536))).status, Status::Ok);
    }

    #[test]
    fn a_checkout_on_a_windows_drive_under_wsl_fails() {
        let wsl = "Linux version 5.15.153.1-microsoft-standard-WSL2";
        assert_eq!(
            wsl_mount(Some(wsl), Path::new("/mnt/c/Users/me/lab")).status,
            Status::Fail
        );
        assert_eq!(
            wsl_mount(Some(wsl), Path::new("/home/me/lab")).status,
            Status::Ok
        );
        assert_eq!(
            wsl_mount(Some("Linux version 6.1.0"), Path::new("/mnt/data/lab")).status,
            Status::Ok
        );
    }

    #[test]
    fn a_full_disk_fails_and_docker_is_only_a_warning() {
        assert_eq!(disk(Some(1 << 30)).status, Status::Fail);
        assert_eq!(disk(Some(40 << 30)).status, Status::Ok);
        assert_eq!(docker(None).status, Status::Warn);
        assert_eq!(
            component("clippy", None).fix.as_deref(),
            Some("rustup component add clippy")
        );
    }
}
