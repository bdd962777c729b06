//! `cargo lab dashboard` through real HTTP requests on a real cluster of the harness's
//! test-node: the guard (token, Host, Origin), the JSON 4xx of bad controls, a kill seen as
//! errors and a restart seen as up, the recording read back by the scenario parser, Ctrl-C
//! leaving no node behind, and Stop writing the report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::fault::Fault;
use harness::scenario::Scenario;
use serde_json::Value;

/// Generous: a 2-core machine at load 30 starts nodes slowly.
const PATIENCE: Duration = Duration::from_secs(20);

/// The harness's test node, built if needed (a no-op when it is warm).
fn test_node() -> PathBuf {
    let lab = Path::new(env!("CARGO_BIN_EXE_lab"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "harness", "--bin", "test-node"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "test-node builds");
    lab.parent()
        .expect("the lab binary's dir")
        .join("test-node")
}

struct Running {
    child: Child,
    port: u16,
    token: String,
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, nodes: &str) -> Running {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("dashboard")
        .arg("--node-bin")
        .arg(test_node())
        .args(["--nodes", nodes, "--rate", "40", "--record"])
        .arg(dir.join("recording.toml"))
        .arg("--out")
        .arg(dir.join("report"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the lab binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = loop {
        let line = rx
            .recv_timeout(PATIENCE)
            .expect("the dashboard prints its address in time");
        if line.starts_with("dashboard: ") {
            break line;
        }
    };
    // Keep the rest of stdout flowing.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let url = line.trim_start_matches("dashboard: ");
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .expect("a loopback URL");
    let (port, token) = rest.split_once("/?token=").expect("a token in the URL");
    Running {
        child,
        port: port.parse().unwrap(),
        token: token.to_string(),
        dir,
    }
}

/// One HTTP/1.1 request by hand, so a test controls every header (Host included).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    http_within(PATIENCE, port, method, path, headers, body)
}

/// [`http`], waiting up to `patience` for the answer.
fn http_within(
    patience: Duration,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server listens");
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request += &format!("Host: 127.0.0.1:{port}\r\n");
    }
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += &format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // Read until the body is complete (by its length, its last chunk, or the close): a
    // server may keep the connection open whatever the request said.
    let mut answer = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok());
            let done = match length {
                Some(len) => body.len() >= len,
                None => head.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n"),
            };
            if done {
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{method} {path} on port {port}: no HTTP answer within {} s (got {answer:?}); \
                 a machine too busy to answer in time?",
                patience.as_secs()
            )
        });
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out += &rest[..n];
        body = &rest[n + 2..];
    }
    out
}

impl Running {
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = http(
            self.port,
            method,
            path,
            &[("X-Lab-Token", &self.token)],
            body,
        );
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }

    fn state(&self) -> Value {
        let (status, state) = self.call("GET", "/api/state", "");
        assert_eq!(status, 200, "{state}");
        state
    }

    fn node_state(&self, id: &str) -> String {
        let state = self.state();
        let node = state["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned();
        node.unwrap()["state"].as_str().unwrap().to_string()
    }

    /// Waits until `what` holds of the state, or fails naming it with the last state seen.
    fn until(&self, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let state = self.state();
            if holds(&state) {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}; last state: {}",
                state["second"]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn fault(&self, body: &str) -> Value {
        let (status, answer) = self.call("POST", "/api/fault", body);
        assert_eq!(status, 200, "{body}: {answer}");
        answer
    }
}

fn errors(state: &Value) -> u64 {
    state["second"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

fn alive(pid: u64) -> bool {
    // A zombie (no init reaped it yet in a container) is dead for our purpose.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn the_dashboard_guards_controls_records_and_leaves_nothing_on_ctrl_c() {
    let mut run = start("main", "2");
    let port = run.port;
    let token = run.token.clone();

    // The guard: every request needs the token, our Host, and no foreign Origin.
    let (status, body) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 403, "no token: {body}");
    assert!(body.contains("token"), "{body}");
    let (status, page) = http(port, "GET", &format!("/?token={token}"), &[], "");
    assert_eq!(status, 200);
    assert!(
        page.contains("cargo lab dashboard") && page.contains("svg.chart"),
        "the page with the report's style"
    );
    let (status, body) = http(port, "GET", "/api/state", &[("X-Lab-Token", "0123")], "");
    assert_eq!(status, 403, "wrong token: {body}");
    let kill_n1 = r#"{"fault": "kill", "target": "n1"}"#;
    let (status, body) = http(
        port,
        "POST",
        "/api/fault",
        &[("X-Lab-Token", &token), ("Origin", "http://evil.example")],
        kill_n1,
    );
    assert_eq!(status, 403, "foreign Origin: {body}");
    assert!(body.contains("Origin"), "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/fault",
        &[("X-Lab-Token", &token), ("Host", "evil.example")],
        kill_n1,
    );
    assert_eq!(status, 403, "foreign Host (DNS rebinding): {body}");
    assert!(body.contains("Host"), "{body}");
    assert_eq!(run.node_state("n1"), "up", "no refused request touched n1");
    let (status, _) = http(
        port,
        "GET",
        &format!("/api/state?token={token}"),
        &[("Origin", &format!("http://127.0.0.1:{port}"))],
        "",
    );
    assert_eq!(status, 200, "the page's own Origin passes");

    // Bad controls: JSON 4xx naming what is wrong.
    let (status, body) = run.call("POST", "/api/fault", r#"{"fault": "kill", "target": "n7"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unknown node"),
        "{body}"
    );
    assert_eq!(body["field"], "target");
    let (status, body) = run.call(
        "POST",
        "/api/fault",
        r#"{"fault": "explode", "target": "n1"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("explode"),
        "{body}"
    );
    let (status, body) = run.call(
        "POST",
        "/api/fault",
        r#"{"fault": "loss", "target": "n1", "p": 7}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = run.call("POST", "/api/fault", "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("bad request body"),
        "{body}"
    );
    let (status, body) = run.call("POST", "/api/rate", r#"{"rate": -5}"#);
    assert_eq!(status, 400, "{body}");

    // Traffic flows; a kill shows as down and as errors; a restart as up again.
    run.until("traffic answered", |s| {
        s["second"]["ok"].as_u64().unwrap() > 0
    });
    run.fault(r#"{"fault": "kill", "target": "n2"}"#);
    assert_eq!(run.node_state("n2"), "down");
    run.until("errors after the kill", |s| errors(s) > 0);
    run.fault(r#"{"fault": "restart", "target": "n2"}"#);
    assert_eq!(run.node_state("n2"), "up");
    run.fault(r#"{"fault": "cut", "from": "n1", "to": "n2"}"#);
    let state = run.state();
    let cut: Vec<&Value> = state["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["faults"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(
        (cut[0]["from"].as_str(), cut[0]["to"].as_str()),
        (Some("n1"), Some("n2"))
    );
    run.fault(r#"{"fault": "heal"}"#);
    assert!(
        state["plots"].as_str().unwrap().contains("class=\"fault\""),
        "the plots shade the faults"
    );
    let (status, _) = run.call("POST", "/api/rate", r#"{"rate": 60}"#);
    assert_eq!(status, 200);

    // The recording: the same faults at the same times, as the scenario parser reads it.
    let (status, recorded) = run.call("POST", "/api/record", "");
    assert_eq!(status, 200);
    let text = recorded["scenario"].as_str().unwrap();
    let scenario = Scenario::parse(Path::new("recording.toml"), text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let faults: Vec<Fault> = scenario.faults.iter().map(|f| f.fault.clone()).collect();
    assert_eq!(
        faults,
        [Fault::Kill, Fault::Restart, Fault::Cut, Fault::Heal],
        "{text}"
    );
    let state = run.state();
    let clicked: Vec<f64> = state["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["label"].as_str().unwrap().starts_with("rate"))
        .map(|a| a["at"].as_f64().unwrap())
        .collect();
    for (f, at) in scenario.faults.iter().zip(&clicked) {
        assert!(
            (f.at.as_secs_f64() - at).abs() < 0.002,
            "{:?} against {at}",
            f.at
        );
    }
    assert_eq!(scenario.cluster.nodes, 2);

    // Ctrl-C: every node gone, the recording kept.
    let pids: Vec<u64> = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + PATIENCE;
    while run.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the dashboard outlived Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + PATIENCE;
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "a node outlived Ctrl-C: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept = std::fs::read_to_string(run.dir.join("recording.toml")).expect("the --record file");
    let kept = Scenario::parse(Path::new("recording.toml"), &kept).expect("it parses");
    assert_eq!(kept.faults.len(), 4);
}

#[test]
fn stop_writes_the_report_and_the_recording() {
    let mut run = start("stop", "1");
    run.until("traffic answered", |s| {
        s["second"]["ok"].as_u64().unwrap() > 0
    });
    run.fault(r#"{"fault": "pause", "target": "n1"}"#);
    assert_eq!(run.node_state("n1"), "paused");
    run.fault(r#"{"fault": "resume", "target": "n1"}"#);
    let (status, _) = run.call("POST", "/api/stop", "");
    assert_eq!(status, 200);
    let deadline = Instant::now() + PATIENCE;
    let code = loop {
        if let Some(code) = run.child.try_wait().unwrap() {
            break code;
        }
        assert!(Instant::now() < deadline, "the dashboard did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
    let report = std::fs::read_to_string(run.dir.join("report/report.html")).expect("report.html");
    assert!(report.contains("pause n1"), "the fault in the report");
    assert!(run.dir.join("report/verdict.json").is_file());
    let recorded =
        std::fs::read_to_string(run.dir.join("recording.toml")).expect("the --record file");
    let scenario = Scenario::parse(Path::new("recording.toml"), &recorded).expect("it parses");
    assert_eq!(scenario.faults.len(), 2);
}

/// How long a new browser may take to start: Chromium on a loaded 2-core machine is slow.
const BROWSER_PATIENCE: Duration = Duration::from_secs(90);

/// chromedriver in a process group of its own, with the Chromium it starts: dropped (also
/// on a panic), the whole group is killed, so no browser outlives the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session on headless Chromium, by hand (the protocol is JSON over HTTP).
struct Browser {
    port: u16,
    session: String,
    // Dropped after `Browser::drop` has deleted the session.
    _driver: Driver,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            "",
        );
    }
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Driver(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver runs (apt-get install chromium chromium-driver)"),
        );
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = r#"{"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless", "--no-sandbox", "--disable-gpu",
            "--window-size=1280,1600"]}}}}"#;
        let (status, body) = http_within(
            BROWSER_PATIENCE,
            port,
            "POST",
            "/session",
            &[],
            capabilities,
        );
        assert_eq!(status, 200, "a session: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let session = answer["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            port,
            session,
            _driver: driver,
        }
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = http(self.port, method, &path, &[], &body);
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {text}");
        answer["value"].clone()
    }

    /// What the page's own script returns.
    fn eval(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            serde_json::json!({"script": script, "args": []}),
        )
    }

    /// A real click (the pointer, not a script) on the first element `css` finds.
    fn click(&self, css: &str) {
        let found = self.command(
            "POST",
            "/element",
            serde_json::json!({"using": "css selector", "value": css}),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element")
            .to_string();
        self.command(
            "POST",
            &format!("/element/{id}/click"),
            serde_json::json!({}),
        );
    }

    /// Waits up to `within` for `script` to return true.
    fn until(&self, what: &str, within: Duration, script: &str) {
        let deadline = Instant::now() + within;
        while self.eval(script) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "the page never showed {what} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, path: &Path) {
        let png = self.command("GET", "/screenshot", Value::Null);
        let png = base64(png.as_str().unwrap());
        std::fs::write(path, png).unwrap();
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len() - 1)
        })
        .collect()
}

/// The issue's browser test, in headless Chromium over WebDriver: open the dashboard on 3
/// nodes, see all up, click kill on one and see it down and errors on the plot within 2 s,
/// restart it and see it up, record, and replay the recording to a PASS. It needs Chromium
/// and chromedriver, and runs a replay, so it runs when LAB_BROWSER_TEST=1 (CI sets it);
/// elsewhere it says so and passes.
#[test]
fn a_browser_kills_restarts_records_and_the_recording_replays() {
    if std::env::var_os("LAB_BROWSER_TEST").is_none() {
        eprintln!(
            "the browser test runs with LAB_BROWSER_TEST=1 (needs chromium and chromium-driver)"
        );
        return;
    }
    let run = start("browser", "3");
    let browser = Browser::start();
    let url = format!("http://127.0.0.1:{}/?token={}", run.port, run.token);
    browser.command("POST", "/url", serde_json::json!({ "url": url }));
    let state =
        |id: &str| format!("document.querySelector('[data-node=\"{id}\"] .state')?.textContent");
    browser.until(
        "every node up",
        PATIENCE,
        "return ['n1','n2','n3'].every(id => \
         document.querySelector(`[data-node=\"${id}\"] .state`)?.textContent === 'up')",
    );
    run.until("traffic answered", |s| {
        s["second"]["ok"].as_u64().unwrap() > 2
    });
    browser.click("[data-node=\"n2\"] button[data-fault=\"kill\"]");
    browser.until(
        "n2 down",
        Duration::from_secs(2),
        &format!("return {} === 'down'", state("n2")),
    );
    browser.until(
        "errors on the plot",
        Duration::from_secs(3),
        "return [...document.querySelectorAll('#errors circle.point')].some(c => Number(c.dataset.v) > 0)",
    );
    let shot = run.dir.join("browser-killed.png");
    browser.screenshot(&shot);
    browser.click("[data-node=\"n2\"] button[data-fault=\"restart\"]");
    browser.until(
        "n2 up again",
        PATIENCE,
        &format!("return {} === 'up'", state("n2")),
    );
    std::thread::sleep(Duration::from_secs(1));
    browser.click("#record");
    browser.until(
        "the recording written",
        PATIENCE,
        "return document.getElementById('message').textContent.startsWith('recorded')",
    );
    let recording = run.dir.join("recording.toml");
    let text = std::fs::read_to_string(&recording).unwrap();
    let scenario = Scenario::parse(&recording, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let faults: Vec<Fault> = scenario.faults.iter().map(|f| f.fault.clone()).collect();
    assert_eq!(faults, [Fault::Kill, Fault::Restart], "{text}");
    drop(browser);
    drop(run);

    let replay = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["scenario", "run"])
        .arg(&recording)
        .arg("--out")
        .arg(recording.with_file_name("replay"))
        .output()
        .expect("the lab binary runs");
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "the replay: {said}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(said.contains("PASS"), "{said}");
    eprintln!("screenshot: {}", shot.display());
}
