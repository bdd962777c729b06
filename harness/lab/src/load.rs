//! `lab load`: a standalone open-loop HTTP load generator, usable against anything (like oha
//! or wrk2).
//!
//! ```text
//! cargo lab load --url http://127.0.0.1:8080/health --rate 500 --duration 10s
//! cargo lab load --url http://127.0.0.1:8080/carts/7 --method POST --body '{"item":"x"}' \
//!     -H 'content-type: application/json' --rate 200 --duration 30s --json
//! cargo lab load --url ... --rate 200 --duration 10s --closed 1   # the coordinated-omission trap
//! cargo lab load --url ... --rate 200 --duration 10s --threshold 'p99<250ms' \
//!     --threshold 'error_rate<1%' --capacity 100 --threshold 'goodput>0.95 capacity'
//! ```
//!
//! The engine is [`harness::load`]; this file turns flags into a [`Load`], checks that the
//! target can be reached before it starts (a typo should cost one line, not ten seconds of
//! connection errors), shows a progress bar on a terminal, and prints either a short table or
//! one JSON object (`--json`). Bad input gets one line on stderr and exit code 2. Each
//! `--threshold` (the syntax of [`harness::slo`], as in scenario files) gets a line `ok` or
//! `FAIL` under the table, and a broken one makes the exit code 1.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::check::CheckResult;
use harness::load::{
    CORRECTION, HttpTarget, LATE_TOLERANCE, Load, LoadReport, MAX_CONCURRENCY, MAX_RATE, Mode,
    Progress, Schedule, Summary,
};
use harness::slo::{self, Slo};
use reqwest::header::{HeaderName, HeaderValue};

use crate::bar::Bar;
use crate::refuse;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Open loop (the default) sends every request at its scheduled time and \
counts latency from that time, so a stalled target shows in the tail. --closed N shows what \
most load tools report instead."
)]
pub struct LoadArgs {
    /// The URL every request goes to (http://, no TLS).
    #[arg(long)]
    pub url: String,
    // Numbers are read as text, hyphen included, so that `--rate -5` gets this command's
    // one-line answer rather than clap's "unexpected argument".
    /// Requests per second to send.
    #[arg(long, allow_hyphen_values = true)]
    pub rate: String,
    /// How long to send for: 10s, 500ms, 2m, or plain seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub duration: String,
    /// Ramp linearly from --rate to this rate over the run (to find the knee).
    #[arg(long, value_name = "RATE", allow_hyphen_values = true)]
    pub ramp_to: Option<String>,
    /// The HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// The request body, sent as is.
    #[arg(long)]
    pub body: Option<String>,
    /// A request header, `name: value`; repeat for more.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Open loop: each request at its scheduled time, whatever the replies do (the default).
    #[arg(long, conflicts_with = "closed")]
    pub open: bool,
    /// Closed loop: N workers, each waits for its reply before it sends again.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub closed: Option<String>,
    /// A request not answered within this counts as unknown (timeout).
    #[arg(long, default_value = "5s", allow_hyphen_values = true)]
    pub timeout: String,
    /// The most requests in flight at once (open loop); beyond it sends wait and count as late.
    #[arg(long, default_value = "4096", allow_hyphen_values = true)]
    pub max_in_flight: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// An SLO the run must meet, k6-style ('p99<250ms', 'error_rate<1%', 'availability>99%',
    /// 'goodput>180/s', 'goodput>0.95 capacity'); repeat for more. One broken: exit 1.
    #[arg(long = "threshold", value_name = "SLO", allow_hyphen_values = true)]
    pub thresholds: Vec<String>,
    /// Requests per second the target can serve: what `capacity` in a threshold means.
    #[arg(long, value_name = "RATE", allow_hyphen_values = true)]
    pub capacity: Option<String>,
}

pub fn run(args: LoadArgs) -> ExitCode {
    let plan = match Plan::from_args(&args) {
        Ok(plan) => plan,
        Err(why) => return refuse(&why),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return refuse(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        if let Err(why) = reachable(&plan.url).await {
            return refuse(&why);
        }
        let report = match drive(&plan).await {
            Ok(report) => report,
            Err(why) => return refuse(&why),
        };
        let thresholds = plan.slo.check(&slo::Figures::from(&report));
        if args.json {
            let out = JsonOut {
                url: plan.url.as_str(),
                method: plan.method.as_str(),
                summary: report.summary(),
                correction: CORRECTION,
                thresholds: &thresholds,
            };
            match serde_json::to_string(&out) {
                Ok(line) => println!("{line}"),
                Err(e) => return refuse(&format!("cannot write the JSON summary: {e}")),
            }
        } else {
            print!("{}", table(&plan, &report));
            print!("{}", slo::lines(&thresholds));
        }
        if thresholds.iter().all(|t| t.passed) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}

/// The flags, checked.
struct Plan {
    url: reqwest::Url,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    body: Option<String>,
    schedule: Schedule,
    duration: Duration,
    mode: Mode,
    timeout: Duration,
    max_in_flight: usize,
    /// `--threshold`s: the run exits 1 when one breaks.
    slo: Slo,
}

impl Plan {
    fn from_args(args: &LoadArgs) -> Result<Plan, String> {
        let rate = parse_rate("--rate", &args.rate)?;
        let duration = parse_duration("--duration", &args.duration)?;
        let schedule = match &args.ramp_to {
            None => Schedule::Constant { rate },
            Some(to) => Schedule::Ramp {
                from: rate,
                to: parse_rate("--ramp-to", to)?,
                over: duration,
            },
        };
        let url = reqwest::Url::parse(&args.url)
            .map_err(|e| format!("bad --url {:?}: {e} (try http://127.0.0.1:8080/)", args.url))?;
        if url.scheme() != "http" {
            return Err(format!(
                "bad --url {:?}: only http:// is supported (the lab has no TLS)",
                args.url
            ));
        }
        let method =
            reqwest::Method::from_bytes(args.method.to_uppercase().as_bytes()).map_err(|_| {
                format!(
                    "bad --method {:?}: try GET, POST, PUT or DELETE",
                    args.method
                )
            })?;
        let mut headers = reqwest::header::HeaderMap::new();
        for header in &args.headers {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| format!("bad --header {header:?}: write it as 'name: value'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|e| format!("bad --header {header:?}: {e}"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|e| format!("bad --header {header:?}: {e}"))?;
            headers.append(name, value);
        }
        let mode = match &args.closed {
            None => Mode::Open,
            Some(n) => Mode::Closed {
                workers: parse_count("--closed", n)?,
            },
        };
        let max_in_flight = parse_count("--max-in-flight", &args.max_in_flight)?;
        Ok(Plan {
            url,
            method,
            headers,
            body: args.body.clone(),
            schedule,
            duration,
            mode,
            timeout: parse_duration("--timeout", &args.timeout)?,
            max_in_flight,
            slo: Slo::from_flags(&args.thresholds, args.capacity.as_deref())?,
        })
    }

    /// The request every shot sends, on hyper's client directly: reqwest's per-request work
    /// (its URL, its layers, its pool task) cost 40% of the throughput oha reaches.
    fn target(&self) -> Result<HttpTarget, String> {
        HttpTarget::new(
            self.method.clone(),
            self.url.as_str(),
            self.headers.clone(),
            self.body.clone().unwrap_or_default(),
        )
    }

    fn describe(&self) -> String {
        let rate = match self.schedule {
            Schedule::Ramp { from, to, .. } => format!("{from}/s ramping to {to}/s"),
            ref other => format!("{}/s", other.rate_at(Duration::ZERO)),
        };
        let mode = match self.mode {
            Mode::Open => "open loop".to_string(),
            Mode::Closed { workers: 1 } => "closed loop, 1 worker".to_string(),
            Mode::Closed { workers } => format!("closed loop, {workers} workers"),
        };
        format!(
            "{} {} · {mode} · {rate} for {}",
            self.method,
            self.url,
            seconds(self.duration)
        )
    }
}

fn parse_rate(flag: &str, text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate > MAX_RATE => Err(format!(
            "{flag} {text} is more than the generator sends: at most {MAX_RATE} per second"
        )),
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err(format!(
            "{flag} must be above 0 requests per second (got {text})"
        )),
        Err(_) => Err(format!(
            "{flag} must be a number of requests per second (got {text:?})"
        )),
    }
}

/// A count of workers or requests in flight: 1 to [`MAX_CONCURRENCY`].
fn parse_count(flag: &str, text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} must be a whole number from 1 to {MAX_CONCURRENCY} (got {text:?})"
        )),
    }
}

/// `10s`, `1.5s`, `500ms`, `2m`, `1h`, or plain seconds; above zero.
/// A time flag, through the harness's one duration parser, named in its message.
fn parse_duration(flag: &str, text: &str) -> Result<Duration, String> {
    harness::duration::parse_positive(flag, text).map_err(|why| {
        if why.starts_with(flag) {
            why
        } else {
            format!("{flag}: {why}")
        }
    })
}

/// Fails in one line if nothing listens at the URL's address. A plain TCP connect, so that
/// the check sends no request (a POST must not be applied one extra time).
async fn reachable(url: &reqwest::Url) -> Result<(), String> {
    // An IPv6 host comes in brackets (`[::1]`), which a resolver does not take.
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    let unreachable = |why: String| format!("cannot reach {url}: {why}; is the server running?");
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let connect = async {
        let mut last = None;
        for addr in &addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(format!("{addr}: {e}")),
            }
        }
        Err(last.unwrap_or_else(|| format!("{host} has no address")))
    };
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(result) => result.map_err(unreachable),
        Err(_) => Err(unreachable("no answer to a connect within 3 s".into())),
    }
}

async fn drive(plan: &Plan) -> Result<LoadReport, String> {
    let target = plan.target()?;
    let load = Load::new(plan.schedule.clone(), plan.duration)
        .mode(plan.mode)
        .timeout(plan.timeout)
        .max_in_flight(plan.max_in_flight);
    let bar = progress_bar(plan.duration, load.progress());
    let report = load.run_http(target).await.map_err(|e| e.to_string());
    if let Some(bar) = bar {
        bar.abort();
    }
    report
}

/// Keeps the progress bar (when one is shown) up to date with the run's counters until the
/// task is aborted at the end of the run, which drops and so clears the bar.
fn progress_bar(
    duration: Duration,
    progress: Arc<Progress>,
) -> Option<tokio::task::JoinHandle<()>> {
    let bar = Bar::for_run(duration)?;
    let start = Instant::now();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            bar.show(
                start.elapsed(),
                &format!(
                    "sent {} · errors {} · late {}",
                    progress.sent(),
                    progress.errors(),
                    progress.late()
                ),
            );
        }
    }))
}

#[derive(serde::Serialize)]
struct JsonOut<'a> {
    url: &'a str,
    method: &'a str,
    #[serde(flatten)]
    summary: Summary,
    /// Why `corrected` and `uncorrected` differ.
    correction: &'static str,
    /// Each `--threshold`'s verdict (absent without any).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    thresholds: &'a [CheckResult],
}

/// The short table a person reads after a run.
fn table(plan: &Plan, report: &LoadReport) -> String {
    let s = report.summary();
    let mut out = format!("lab load: {}\n\n", plan.describe());
    out += &format!(
        "  requests  {} sent of {} scheduled · {:.1}/s achieved of {:.1}/s\n",
        s.sent, s.scheduled, s.achieved_rate, s.target_rate
    );
    let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let kinds = if kinds.is_empty() {
        String::new()
    } else {
        format!(" ({})", kinds.join(", "))
    };
    out += &format!(
        "  replies   {} ok · {} failed · {} unknown{kinds}\n",
        s.ok, s.failed, s.unknown
    );
    // Both latencies, the mode's headline first: corrected is what open loop reports, and
    // what a closed loop would have to admit to.
    let line = |name: &str, p: harness::load::Percentiles, from: &str| {
        format!(
            "  {name:<11} p50 {} · p90 {} · p99 {} · p99.9 {} · max {}   (ms, from the {from})\n",
            ms(p.p50_ms),
            ms(p.p90_ms),
            ms(p.p99_ms),
            ms(p.p999_ms),
            ms(p.max_ms),
        )
    };
    let corrected = line("corrected", s.corrected, "intended send time");
    let uncorrected = line("uncorrected", s.uncorrected, "actual send");
    out += &match plan.mode {
        Mode::Open => corrected + &uncorrected,
        Mode::Closed { .. } => uncorrected + &corrected,
    };
    out += &format!("  {:<11} {CORRECTION}\n", "why");
    let tolerance = LATE_TOLERANCE.as_millis();
    // A few late sends are the noise of a busy machine; many, or any dropped, are news.
    if s.late_sends * 20 <= s.sent && s.dropped == 0 {
        out += &format!(
            "  schedule  kept: {} late sends (more than {tolerance} ms behind), worst {} ms\n",
            s.late_sends,
            ms(s.max_lag_ms)
        );
    } else {
        out += &format!(
            "  schedule  NOT kept: {} of {} sends late by more than {tolerance} ms (worst {} ms), \
             {} never sent\n",
            s.late_sends,
            s.sent,
            ms(s.max_lag_ms),
            s.dropped
        );
        out += match plan.mode {
            Mode::Open => {
                "            the generator could not keep up (CPU, or --max-in-flight): the target \
                 saw a gentler load than asked\n"
            }
            Mode::Closed { .. } => {
                "            the workers were waiting on replies: that waiting is in no latency \
                 above (run without --closed to see it)\n"
            }
        };
    }
    out
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn plan(args: &[&str]) -> Result<Plan, String> {
        let cli = Cli::try_parse_from(std::iter::once("load").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Plan::from_args(&cli.load)
    }

    const OK: [&str; 6] = [
        "--url",
        "http://127.0.0.1:9/",
        "--rate",
        "100",
        "--duration",
        "2s",
    ];

    #[test]
    fn durations_read_like_people_write_them() {
        let d = |s| parse_duration("--duration", s);
        assert_eq!(d("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert!(d("3").unwrap_err().contains("add a unit"));
        for bad in ["0s", "-1s", "ten", "5 parsecs", "", "0.0001ms"] {
            assert!(d(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn bad_input_is_one_line_that_names_the_flag() {
        let cases: [(&[&str], &str); 13] = [
            (
                &["--url", "http://a/", "--rate", "0", "--duration", "1s"],
                "--rate must be above 0",
            ),
            (
                &["--url", "http://a/", "--rate", "x", "--duration", "1s"],
                "--rate must be a number",
            ),
            (
                &["--url", "http://a/", "--rate", "-5", "--duration", "1s"],
                "--rate must be above 0",
            ),
            (
                &["--url", "http://a/", "--rate", "1e300", "--duration", "1s"],
                "more than the generator sends",
            ),
            (
                &[
                    "--url",
                    "http://a/",
                    "--rate",
                    "1",
                    "--ramp-to",
                    "1e300",
                    "--duration",
                    "1s",
                ],
                "--ramp-to 1e300 is more than the generator sends",
            ),
            (
                &["--url", "http://a/", "--rate", "1", "--duration", "-1s"],
                "--duration",
            ),
            (
                &[
                    "--url",
                    "http://a/",
                    "--rate",
                    "1",
                    "--duration",
                    "1s",
                    "--max-in-flight",
                    "18446744073709551615",
                ],
                "--max-in-flight must be a whole number from 1 to 100000",
            ),
            (
                &[
                    "--url",
                    "http://a/",
                    "--rate",
                    "1",
                    "--duration",
                    "1s",
                    "--closed",
                    "1000000",
                ],
                "--closed must be a whole number from 1 to 100000",
            ),
            (
                &[
                    "--url",
                    "http://a/",
                    "--rate",
                    "1",
                    "--duration",
                    "1s",
                    "--closed",
                    "-1",
                ],
                "--closed must be a whole number",
            ),
            (
                &["--url", "not a url", "--rate", "1", "--duration", "1s"],
                "bad --url",
            ),
            (
                &["--url", "https://a/", "--rate", "1", "--duration", "1s"],
                "only http://",
            ),
            (
                &["--url", "http://a/", "--rate", "1", "--duration", "0s"],
                "--duration = \"0s\": must be more than 0",
            ),
            (
                &[
                    "--url",
                    "http://a/",
                    "--rate",
                    "1",
                    "--duration",
                    "1s",
                    "-H",
                    "nocolon",
                ],
                "bad --header",
            ),
        ];
        for (args, expected) in cases {
            let err = plan(args).err().unwrap_or_default();
            assert!(
                err.contains(expected) && !err.contains('\n'),
                "{args:?}: {err:?}"
            );
        }
    }

    #[test]
    fn flags_make_the_plan() {
        let mut args = OK.to_vec();
        args.extend([
            "--method",
            "post",
            "--body",
            "{}",
            "-H",
            "content-type: application/json",
        ]);
        args.extend(["--closed", "4", "--ramp-to", "300"]);
        let p = plan(&args).unwrap();
        assert_eq!(p.method, reqwest::Method::POST);
        assert_eq!(p.mode, Mode::Closed { workers: 4 });
        assert_eq!(
            p.schedule,
            Schedule::Ramp {
                from: 100.0,
                to: 300.0,
                over: Duration::from_secs(2)
            }
        );
        assert_eq!(p.headers["content-type"], "application/json");
        assert!(p.target().is_ok());
        assert!(plan(&[&OK[..], &["--open", "--closed", "2"]].concat()).is_err());
    }

    #[test]
    fn the_table_says_when_the_schedule_was_not_kept() {
        let p = plan(&OK).unwrap();
        let report = |late_sends| LoadReport {
            mode: Mode::Open,
            duration: Duration::from_secs(2),
            elapsed: Duration::from_secs(2),
            scheduled: 200,
            dropped: 0,
            record: harness::load::Record {
                sent: 200,
                ok: 190,
                late_sends,
                failed: [("http_503".to_string(), 10)].into(),
                ..Default::default()
            },
        };
        let calm = table(&p, &report(3));
        assert!(calm.contains("schedule  kept: 3 late sends"), "{calm}");
        assert!(
            calm.contains("190 ok · 10 failed · 0 unknown (http_503 10)"),
            "{calm}"
        );
        let behind = table(&p, &report(150));
        assert!(
            behind.contains("NOT kept: 150 of 200 sends late"),
            "{behind}"
        );
        assert!(behind.contains("could not keep up"), "{behind}");
    }

    #[tokio::test]
    async fn an_unreachable_target_is_named() {
        // Bind then drop a listener: its port is (almost surely) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let err = reachable(&url).await.unwrap_err();
        assert!(err.starts_with(&format!("cannot reach {url}")), "{err}");
        assert!(!err.contains('\n'));
    }

    #[tokio::test]
    async fn an_ipv6_target_resolves() {
        let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here; nothing to check");
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let url = reqwest::Url::parse(&format!("http://[::1]:{port}/")).unwrap();
        assert_eq!(reachable(&url).await, Ok(()));
    }
}
