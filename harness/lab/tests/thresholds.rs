//! `cargo lab load --threshold`: each SLO gets its `ok` or `FAIL` line, a broken one exits 1,
//! a malformed one exits 2 with one line naming the flag, as every bad flag does.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

/// A server that answers every request `200 ok` at once, over kept-alive connections: all a
/// load test needs for a target, on a port of its own.
fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut writer = &stream;
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        // The blank line that ends a request's head (GETs carry no body).
                        Ok(_) if line == "\r\n" => {
                            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if writer.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn lab_load(url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["load", "--url", url, "--rate", "20", "--duration", "1s"];
    args.extend(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(&args)
        .env(
            "LAB_ROOT",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        )
        .output()
        .expect("the lab binary runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Shown only when the test fails.
    println!(
        "$ lab {}\n(exit {:?})\n{}{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn thresholds_that_hold_exit_0_and_each_says_ok() {
    let url = server();
    // Bounds no busy machine misses: 20 requests a second to a server that answers at once.
    let run = lab_load(
        &url,
        &[
            "--threshold",
            "p99<5s",
            "--threshold",
            "error_rate < 50%",
            "--capacity",
            "20",
            "--threshold",
            "goodput >= 0.25 capacity",
        ],
    );
    assert_eq!(run.code, Some(0));
    for line in [
        "ok    threshold p99 < 5s ",
        "ok    threshold error_rate < 50% ",
        "ok    threshold goodput >= 0.25 capacity ",
    ] {
        assert!(run.stdout.contains(line), "no {line:?} line");
    }
    assert!(run.stdout.contains("within >= 0.25 capacity (5/s)"));
}

#[test]
fn a_broken_threshold_exits_1_naming_the_figure_its_bound_and_the_measure() {
    let url = server();
    // 20 requests a second cannot make 1000 answers a second.
    let run = lab_load(
        &url,
        &["--threshold", "p99 < 5s", "--threshold", "goodput > 1000/s"],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("ok    threshold p99 < 5s "));
    let fail = run
        .stdout
        .lines()
        .find(|l| l.contains("FAIL  threshold goodput > 1000/s"))
        .expect("a FAIL line for the goodput threshold");
    assert!(
        fail.contains("goodput was ") && fail.ends_with("/s, the threshold is > 1000/s"),
        "{fail}"
    );

    // The same verdicts in the JSON summary, and the same exit code.
    let run = lab_load(&url, &["--json", "--threshold", "goodput > 1000/s"]);
    assert_eq!(run.code, Some(1));
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    let verdict = &json["thresholds"][0];
    assert_eq!(verdict["name"], "threshold goodput > 1000/s");
    assert_eq!(verdict["passed"], false);
    assert_eq!(verdict["threshold"], 1000.0);
}

#[test]
fn a_malformed_threshold_exits_2_in_one_line_that_says_what_is_accepted() {
    // Refused before anything is sent: no server needed.
    let url = "http://127.0.0.1:9/";
    for (threshold, capacity, expected) in [
        ("p99 < 250", None, "add a unit"),
        (
            "p98.x < 1s",
            None,
            "unknown figure \"p98.x\"; use p50, p90, p99",
        ),
        ("p99 250ms", None, "no comparison"),
        ("goodput > 0.9 capacity", None, "needs --capacity"),
        ("goodput > 0.9 capacity", Some("-3"), "--capacity must be"),
    ] {
        let mut extra = vec!["--threshold", threshold];
        if let Some(c) = capacity {
            extra.extend(["--capacity", c]);
        }
        let run = lab_load(url, &extra);
        assert_eq!(run.code, Some(2), "{threshold:?}");
        assert!(
            run.stderr.contains(expected)
                && run.stderr.contains("--")
                && run.stderr.trim_end().lines().count() == 1,
            "{threshold:?}: {:?}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
}
