//! `cargo lab watch [N]`: runs an exercise's tests, then again whenever one of its files
//! changes, with the short summary of `cargo lab check` each time.
//!
//! Changes are found by polling (every `--poll`, half a second by default): a hash of the
//! exercise's files, the one `cargo lab` keys its cache with. Polling is what works
//! everywhere watchers do not: WSL2 over a Windows drive, network mounts, containers with a
//! bind mount. An editor that writes a file in several steps is waited out: the tests start
//! once the files have stopped changing for a moment.
//!
//! In a terminal it reads single keys without Enter: `h` the next hint, `n` the next
//! unfinished exercise, `l` the list, `r` run again, `q` quit. The terminal's mode is put
//! back on quit and on Ctrl-C. Without a terminal (a pipe, CI) it reads nothing and runs
//! until it is stopped.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use crate::catalog::Exercise;
use crate::progress::hash_dir;
use crate::refuse;
use crate::workshop::{self, HintArgs, Workshop};

/// How long the files must stay the same before a run starts.
const SETTLE: Duration = Duration::from_millis(150);

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Exercise number or name; default: the next unfinished one.
    pub exercise: Option<String>,
    /// How often to look for changed files (`500ms`, `2s`).
    #[arg(long, default_value = "500ms", value_parser = poll)]
    pub poll: Duration,
}

fn poll(text: &str) -> Result<Duration, String> {
    harness::duration::parse_positive("--poll", text)
}

pub fn run(args: WatchArgs) -> ExitCode {
    let mut workshop = match workshop::open() {
        Ok(w) => w,
        Err(e) => return refuse(&e),
    };
    let mut exercise = match workshop.pick(args.exercise.as_deref()) {
        Ok(e) => e,
        Err(e) => return refuse(&e),
    };
    let keys = Keys::start();
    let mut seen = match run_once(&mut workshop, &exercise, keys.is_some()) {
        Ok(hash) => hash,
        Err(e) => return refuse(&e),
    };
    loop {
        let key = match &keys {
            Some(keys) => keys.next(args.poll),
            None => {
                std::thread::sleep(args.poll);
                None
            }
        };
        let rerun = match key {
            Some(b'q') | Some(3) | Some(4) => break,
            Some(b'h') => {
                let _ = workshop::hint(HintArgs {
                    exercise: Some(exercise.number.to_string()),
                });
                false
            }
            Some(b'l') => {
                let _ = workshop::status();
                false
            }
            Some(b'n') => match workshop.pick(None) {
                Ok(next) if next.number != exercise.number => {
                    exercise = next;
                    true
                }
                Ok(_) => {
                    println!(
                        "{:02} is still the next unfinished exercise",
                        exercise.number
                    );
                    false
                }
                Err(e) => {
                    println!("{e}");
                    false
                }
            },
            Some(b'r') | Some(b'\n') | Some(b'\r') => true,
            _ => changed(&workshop, &exercise, &seen),
        };
        if rerun {
            settle(&workshop, &exercise);
            match run_once(&mut workshop, &exercise, keys.is_some()) {
                Ok(hash) => seen = hash,
                Err(e) => return refuse(&e),
            }
        }
    }
    drop(keys);
    println!("stopped watching {:02} {}", exercise.number, exercise.title);
    ExitCode::SUCCESS
}

/// The exercise's tests once, the summary, and what to type; the files' hash as they were run.
fn run_once(workshop: &mut Workshop, exercise: &Exercise, keys: bool) -> Result<String, String> {
    let hash = hash_dir(&exercise.exercise_dir(&workshop.root))?;
    workshop::check_exercise(workshop, exercise)?;
    let dir = exercise.exercise_dir(&workshop.root);
    let shown = dir.strip_prefix(&workshop.root).unwrap_or(&dir);
    if keys {
        println!(
            "watching {}: save a file to run the tests again",
            shown.display()
        );
        println!("keys: h hint, n next exercise, l list, r run again, q quit");
    } else {
        println!(
            "watching {}: save a file to run the tests again (Ctrl-C stops)",
            shown.display()
        );
    }
    Ok(hash)
}

fn changed(workshop: &Workshop, exercise: &Exercise, seen: &str) -> bool {
    hash_dir(&exercise.exercise_dir(&workshop.root)).is_ok_and(|now| now != seen)
}

/// Waits until the exercise's files stop changing (an editor's save in several writes).
fn settle(workshop: &Workshop, exercise: &Exercise) {
    let dir = exercise.exercise_dir(&workshop.root);
    let mut last = hash_dir(&dir).ok();
    for _ in 0..20 {
        std::thread::sleep(SETTLE);
        let now = hash_dir(&dir).ok();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Single keys from a terminal, read on a thread of their own; the terminal's mode is put
/// back when this is dropped or the process is interrupted.
struct Keys {
    keys: mpsc::Receiver<u8>,
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl Keys {
    /// `None` when standard input is not a terminal: then nothing is read.
    fn start() -> Option<Keys> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        #[cfg(unix)]
        let saved = raw_keys();
        let (send, keys) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut byte = [0u8; 1];
            while let Ok(1) = stdin.read(&mut byte) {
                if send.send(byte[0]).is_err() {
                    break;
                }
            }
            // End of input reads as `q`.
            let _ = send.send(b'q');
        });
        Some(Keys {
            keys,
            #[cfg(unix)]
            saved,
        })
    }

    /// The next key within `wait`, if one came.
    fn next(&self, wait: Duration) -> Option<u8> {
        self.keys.recv_timeout(wait).ok()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved {
            restore(&saved);
        }
    }
}

/// Puts the terminal in single-key mode (no line editing, no echo; Ctrl-C still interrupts)
/// and returns the mode to restore, which a Ctrl-C handler also restores.
#[cfg(unix)]
fn raw_keys() -> Option<libc::termios> {
    // SAFETY: a zeroed termios is a valid value for tcgetattr to overwrite.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 is open (it is a terminal); tcgetattr writes only into `saved`.
    if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
        return None;
    }
    let mut keys = saved;
    keys.c_lflag &= !(libc::ICANON | libc::ECHO);
    keys.c_cc[libc::VMIN] = 1;
    keys.c_cc[libc::VTIME] = 0;
    // SAFETY: as above, with a termios derived from the terminal's own.
    if unsafe { libc::tcsetattr(0, libc::TCSANOW, &keys) } != 0 {
        return None;
    }
    let restore_on = saved;
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                restore(&restore_on);
                std::process::exit(130);
            }
        });
    }
    Some(saved)
}

#[cfg(unix)]
fn restore(saved: &libc::termios) {
    // SAFETY: puts back the mode tcgetattr gave us.
    unsafe {
        libc::tcsetattr(0, libc::TCSANOW, saved);
    }
}
