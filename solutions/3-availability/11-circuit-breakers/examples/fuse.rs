//! `cargo lab demo fuse`: the payment service hangs under load, first behind a front-end with
//! fuses and bulkheads, then behind the naive one.
//!
//! A scenario file cannot tell this story: its workload is the cart API, and what matters
//! here is the front-end's two pages side by side and what reached the payment service. So
//! this demo is code, and lives beside the exercise it shows. It starts the shop (n1 the
//! front-end, n2 the payment service, n3 the catalog), sends 40 checkouts and 40 product
//! pages a second to n1, and hangs the payment service (`blackhole` on the link n1->n2: every
//! byte swallowed, the connections left open) for 5 s, twice: with every guard on, then with
//! none (`PUT /internal/guards`). It prints a line a second, then the figures against the
//! claims, and writes the run's report directory (`verdict.json`, `history.jsonl` of every
//! request, `report.html` with the two hangs shaded, the node logs, `timeline.txt`).
//!
//! The lab runs it (`cargo lab demo fuse [--impl exercise]`) with the node binary it built,
//! solution or exercise: `--node <binary> --out <dir> [--seed S] [--whose ...]`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use circuit_breakers_solution::{Ask, Fuse, Guards, GuardsReport, Policy};
use harness::Cluster;
use harness::check::{self, CheckResult};
use harness::demo::{self, broke, verdict};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Span};
use node_kit::sync::Mutex;
use serde_json::json;

/// The front-end's call timeout, and its fuse: 3 melts tolerated in 1 s, a probe a second.
const TIMEOUT: Duration = Duration::from_millis(1000);
const RESET: Duration = Duration::from_millis(1000);
const WORKERS: usize = 4;

/// Each part: healthy, then the hang, then healed.
const HEALTHY: Duration = Duration::from_secs(3);
const HANG: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(3);
/// Requests a second, per page.
const RATE: u64 = 40;

const INTRO: &str = "\
The shop's front-end (n1) calls the payment service (n2) for every checkout and the catalog
(n3) for every product page: 40 of each a second. Its calls time out after 1 s.
Part 1, every guard on: a fuse per dependency (3 melts tolerated in 1 s; blown, it lets one
probe through a second) and a bulkhead of 4 workers each. Part 2, the naive front-end: no
fuse, one pool of 8 workers for both. In each part the payment service hangs for 5 s (its
link swallows every byte and keeps the connections open), then comes back.
Watch checkout's latency, the product pages' p99, and the calls that reach n2 each second.";

fn main() -> ExitCode {
    let args = demo::Demo::start("fuse", INTRO);
    println!(
        "starting the shop: 3 nodes of {} ({})\n",
        args.whose,
        args.node_name()
    );
    let flags = [
        "--call-timeout-ms".to_string(),
        TIMEOUT.as_millis().to_string(),
        "--workers".into(),
        WORKERS.to_string(),
        "--fuse-tolerate".into(),
        "3".into(),
        "--fuse-window-ms".into(),
        "1000".into(),
        "--fuse-reset-ms".into(),
        RESET.as_millis().to_string(),
    ];
    let cluster = match Cluster::builder(&args.node).nodes(3).args(flags).start() {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the shop did not start: {e}")),
    };
    let runtime = match demo::Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let started = SystemTime::now();
    let demo = Demo::new(&cluster);
    let outcome = runtime.block_on(script(&demo));
    let written = write_report(&args, started, &cluster, &demo, &outcome);
    drop(cluster);
    match (outcome, written) {
        (Ok(findings), Ok(table)) => {
            figures(&findings);
            let passed = checks(&findings).iter().all(|c| c.passed);
            lesson(passed);
            print!("{table}");
            verdict(passed)
        }
        (Ok(_), Err(e)) => broke(&format!("could not write the report: {e}")),
        (Err(e), written) => {
            if written.is_ok() {
                eprintln!("the node logs are in {}", args.out.display());
            }
            broke(&format!("the demo broke: {e}"))
        }
    }
}

/// The front-end's two pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Checkout,
    Product,
}

/// One request as the demo saw it.
#[derive(Debug, Clone)]
struct Shot {
    page: Page,
    /// Sent, from the run's start.
    at: Duration,
    took: Duration,
    /// `ok`, or the front-end's error code (`fuse_blown`, `dependency_timeout`, ...).
    code: String,
}

/// The run: the cluster, its load, what the terminal showed.
struct Demo<'a> {
    cluster: &'a Cluster,
    start: Instant,
    history: History,
    shots: Arc<Mutex<Vec<Shot>>>,
    http: reqwest::Client,
    timeline: Mutex<Vec<String>>,
    spans: Mutex<Vec<Span>>,
}

/// What one part measured.
#[derive(Debug, Clone)]
struct Part {
    name: &'static str,
    hung_at: Duration,
    healed_at: Duration,
    /// Checkouts answered while hung, once the first timeouts were in (from 1.5 s in).
    checkout_p50: Duration,
    checkout_p99: Duration,
    /// The p99 of the checkouts a blown fuse refused, and how many it refused.
    refused_p99: Duration,
    refused: usize,
    /// Product pages' p99, healthy and while the payment service hung.
    product_p99_healthy: Duration,
    product_p99_hung: Duration,
    product_failed_hung: usize,
    /// Connections to the payment service per second while hung, from 1.5 s in.
    calls_per_second: f64,
    /// From the heal to the first receipt.
    recovered_after: Option<Duration>,
}

struct Findings {
    guarded: Part,
    naive: Part,
    /// What one `ask` of a blown fuse costs in this process.
    ask_ns: f64,
}

impl<'a> Demo<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        let start = Instant::now();
        Demo {
            cluster,
            start,
            history: History::starting_at(start),
            shots: Arc::default(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .expect("a plain HTTP client builds"),
            timeline: Mutex::default(),
            spans: Mutex::default(),
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn print(&self, line: String) {
        println!("{line}");
        self.timeline.lock().push(line);
    }

    fn say(&self, what: &str) {
        let at = self.now().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }

    /// Sends both pages at [`RATE`] each until `until` (from the run's start), printing a
    /// line a second.
    async fn load_until(&self, until: Duration) {
        let every = Duration::from_micros(1_000_000 / RATE);
        let mut schedule = tokio::time::interval(every);
        schedule.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_line = (self.now().as_secs() + 1) as f64;
        let mut last_conns = self.cluster.link("n1", "n2").stats().accepted;
        let mut i = 0u64;
        while self.now() < until {
            schedule.tick().await;
            for page in [Page::Checkout, Page::Product] {
                self.spawn(page, i);
            }
            i += 1;
            if self.now().as_secs_f64() >= next_line {
                let conns = self.cluster.link("n1", "n2").stats().accepted;
                self.line(next_line as u64, conns - last_conns).await;
                last_conns = conns;
                next_line += 1.0;
            }
        }
    }

    fn spawn(&self, page: Page, i: u64) {
        let url = format!("http://{}", self.cluster.addr("n1"));
        let (request, name) = match page {
            Page::Checkout => (
                self.http.post(format!("{url}/checkout")).json(&json!({
                    "request_id": format!("demo-{i}"),
                    "order": format!("demo-{i}"),
                    "amount_cents": 1999,
                    "card": "4242424242424242",
                })),
                "checkout",
            ),
            Page::Product => (
                self.http.get(format!("{url}/products/item-{}", i % 50)),
                "product",
            ),
        };
        let invocation = self.history.invoke(
            "n1",
            Action::Request {
                name: name.to_string(),
            },
        );
        let shots = self.shots.clone();
        let at = self.now();
        tokio::spawn(async move {
            let sent = Instant::now();
            let code = match request.send().await {
                Ok(response) if response.status().is_success() => "ok".to_string(),
                Ok(response) => {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    body["error"].as_str().unwrap_or("error").to_string()
                }
                Err(_) => "no_answer".to_string(),
            };
            let took = sent.elapsed();
            if code == "ok" {
                invocation.ok();
            } else {
                invocation.fail(code.clone());
            }
            shots.lock().push(Shot {
                page,
                at,
                took,
                code,
            });
        });
    }

    /// One line: the last second's checkouts and product pages, the fuse, the calls to n2.
    async fn line(&self, second: u64, conns: u64) {
        let from = Duration::from_secs(second - 1);
        let to = Duration::from_secs(second);
        let shots: Vec<Shot> = self
            .shots
            .lock()
            .iter()
            .filter(|s| s.at + s.took >= from && s.at + s.took < to)
            .cloned()
            .collect();
        let of = |page| shots.iter().filter(|s| s.page == page).collect::<Vec<_>>();
        let checkouts = of(Page::Checkout);
        let products = of(Page::Product);
        let count = |code: &str| checkouts.iter().filter(|s| s.code == code).count();
        let fuse = match self.guards().await {
            Some(report) => match report.payment.fuse {
                Some(fuse) if fuse.blown => "blown".to_string(),
                Some(_) => "ok".to_string(),
                None => "none".to_string(),
            },
            None => "?".to_string(),
        };
        let product_ok = products.iter().filter(|s| s.code == "ok").count();
        self.print(format!(
            "  {second:>4}s  checkout ok {:>3} blown {:>3} full {:>3} timeout {:>3}  p99 {:>7}   product ok {:>3}/{:<3} p99 {:>7}   fuse {fuse:<5}  calls to n2 {conns:>3}",
            count("ok"),
            count("fuse_blown"),
            count("bulkhead_full"),
            count("dependency_timeout"),
            millis(quantile(&checkouts, 0.99)),
            product_ok,
            products.len(),
            millis(quantile(&products, 0.99)),
        ));
    }

    async fn guards(&self) -> Option<GuardsReport> {
        self.cluster
            .http("n1")
            .timeout(Duration::from_millis(500))
            .get_json::<GuardsReport>("/internal/guards")
            .await
            .ok()
    }

    async fn set_guards(&self, guards: Guards) -> Result<(), String> {
        let response = self
            .cluster
            .http("n1")
            .request(reqwest::Method::PUT, "/internal/guards")
            .json(&guards)
            .send()
            .await
            .map_err(|e| format!("PUT /internal/guards: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("PUT /internal/guards: {}", response.status()))
        }
    }

    /// One part: healthy, hung, healed, under load; then what it measured.
    async fn part(&self, name: &'static str) -> Result<Part, String> {
        let begin = self.now();
        self.load_until(begin + HEALTHY).await;
        self.say("the payment service hangs: n1->n2 swallows every byte, connections stay open.");
        self.cluster.link("n1", "n2").blackhole();
        let hung_at = self.now();
        self.load_until(hung_at + Duration::from_millis(1500)).await;
        let steady_from = self.cluster.link("n1", "n2").stats().accepted;
        let steady_at = self.now();
        self.load_until(hung_at + HANG).await;
        let conns_to = self.cluster.link("n1", "n2").stats().accepted;
        let steady_for = self.now() - steady_at;
        self.cluster.link("n1", "n2").heal();
        let healed_at = self.now();
        self.spans.lock().push(Span {
            label: format!("payment hung ({name})"),
            start: hung_at,
            end: healed_at,
            nodes: vec!["n1".into(), "n2".into()],
        });
        self.say("the payment service is back: its link heals.");
        self.load_until(healed_at + AFTER).await;
        // Let the last requests finish.
        tokio::time::sleep(TIMEOUT + Duration::from_millis(200)).await;

        let shots = self.shots.lock().clone();
        let during = |page, from: Duration, to: Duration| -> Vec<Shot> {
            shots
                .iter()
                .filter(|s| s.page == page && s.at >= from && s.at < to)
                .cloned()
                .collect()
        };
        let healthy = during(Page::Product, begin + Duration::from_secs(1), hung_at);
        let hung_products = during(
            Page::Product,
            hung_at + Duration::from_millis(1500),
            healed_at,
        );
        let hung_checkouts = during(
            Page::Checkout,
            hung_at + Duration::from_millis(1500),
            healed_at,
        );
        let refused: Vec<&Shot> = hung_checkouts
            .iter()
            .filter(|s| s.code == "fuse_blown")
            .collect();
        let recovered_after = shots
            .iter()
            .filter(|s| s.page == Page::Checkout && s.code == "ok" && s.at + s.took > healed_at)
            .map(|s| s.at + s.took - healed_at)
            .min();
        Ok(Part {
            name,
            hung_at,
            healed_at,
            checkout_p50: quantile(&refs(&hung_checkouts), 0.5),
            checkout_p99: quantile(&refs(&hung_checkouts), 0.99),
            refused_p99: quantile(&refused, 0.99),
            refused: refused.len(),
            product_p99_healthy: quantile(&refs(&healthy), 0.99),
            product_p99_hung: quantile(&refs(&hung_products), 0.99),
            product_failed_hung: hung_products.iter().filter(|s| s.code != "ok").count(),
            calls_per_second: (conns_to - steady_from) as f64 / steady_for.as_secs_f64(),
            recovered_after,
        })
    }
}

/// The demo's script: the guarded part, then the naive one.
async fn script(demo: &Demo<'_>) -> Result<Findings, String> {
    demo.say("part 1: fuses and bulkheads on.");
    let guarded = demo.part("fuses and bulkheads").await?;
    demo.set_guards(Guards::NONE).await?;
    demo.say("part 2: the naive front-end: no fuse, one shared pool of 8 workers.");
    let naive = demo.part("naive").await?;
    if demo.cluster.check_alive().is_err() {
        return Err(demo.cluster.diagnose());
    }
    Ok(Findings {
        guarded,
        naive,
        ask_ns: ask_cost(),
    })
}

/// What one `ask` of a blown fuse costs here, in nanoseconds: the whole price of a refusal
/// inside the front-end.
fn ask_cost() -> f64 {
    let fuse = Fuse::new(Policy {
        tolerate: 0,
        window: Duration::from_secs(1),
        reset: Duration::from_secs(3600),
    });
    fuse.melt();
    const N: u32 = 200_000;
    let started = Instant::now();
    let mut blown = 0;
    for _ in 0..N {
        if std::hint::black_box(fuse.ask()) == Ask::Blown {
            blown += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(blown, N, "a fuse blown for an hour answers blown");
    took.as_nanos() as f64 / f64::from(N)
}

fn refs(shots: &[Shot]) -> Vec<&Shot> {
    shots.iter().collect()
}

fn quantile(shots: &[&Shot], q: f64) -> Duration {
    let mut took: Vec<Duration> = shots.iter().map(|s| s.took).collect();
    took.sort();
    if took.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((took.len() as f64 * q).ceil() as usize).clamp(1, took.len());
    took[rank - 1]
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the demo holds its measurements to, as the report's checks.
fn checks(findings: &Findings) -> Vec<CheckResult> {
    let g = &findings.guarded;
    let n = &findings.naive;
    let product_bound =
        (g.product_p99_healthy * 3).max(g.product_p99_healthy + Duration::from_millis(50));
    let recovered = g.recovered_after.map(ms).into_iter().collect::<Vec<_>>();
    vec![
        check::largest_at_most(
            "with the fuse: the p99 of the checkouts it refused while the payment service hangs",
            &[ms(g.refused_p99)],
            20.0,
            "ms",
        ),
        check::largest_at_most(
            "with the fuse: calls reaching the hung payment service, per reset interval",
            &[g.calls_per_second * RESET.as_secs_f64()],
            1.5,
            "calls",
        ),
        check::largest_at_most(
            "with bulkheads: product pages' p99 while the payment service hangs (3x healthy, or +50 ms)",
            &[ms(g.product_p99_hung)],
            ms(product_bound),
            "ms",
        ),
        check::largest_at_most(
            "with the fuse: from the heal to the first receipt (one reset interval + 300 ms)",
            &recovered,
            ms(RESET) + 300.0,
            "ms",
        ),
        check::smallest_at_least(
            "without: checkout's p50 while the payment service hangs (its timeout)",
            &[ms(n.checkout_p50)],
            ms(TIMEOUT) * 0.9,
            "ms",
        ),
        check::smallest_at_least(
            "without: product pages' p99 while the payment service hangs (a third of the timeout)",
            &[ms(n.product_p99_hung)],
            ms(TIMEOUT) / 3.0,
            "ms",
        ),
    ]
}

/// The figures of both parts, side by side.
fn figures(findings: &Findings) {
    let row = |what: &str, f: &dyn Fn(&Part) -> String| {
        println!(
            "  {what:<48} {:>16} {:>16}",
            f(&findings.guarded),
            f(&findings.naive)
        );
    };
    println!();
    println!(
        "  {:<48} {:>16} {:>16}",
        "while the payment service hung", findings.guarded.name, findings.naive.name
    );
    row("checkout p50", &|p| millis(p.checkout_p50));
    row("checkout p99 (the fuse's probes wait the timeout)", &|p| {
        millis(p.checkout_p99)
    });
    row("checkouts refused by the blown fuse", &|p| {
        p.refused.to_string()
    });
    row("their p99", &|p| {
        if p.refused == 0 {
            "-".into()
        } else {
            millis(p.refused_p99)
        }
    });
    row("calls reaching the payment service per second", &|p| {
        format!("{:.1}", p.calls_per_second)
    });
    row("product pages p99 (healthy)", &|p| {
        millis(p.product_p99_healthy)
    });
    row("product pages p99 (payment hung)", &|p| {
        millis(p.product_p99_hung)
    });
    row("product pages failed (payment hung)", &|p| {
        p.product_failed_hung.to_string()
    });
    row("first receipt after the heal", &|p| {
        p.recovered_after.map_or("none".into(), millis)
    });
    println!(
        "\n  a blown fuse's answer costs {:.0} ns inside the front-end; the rest of a refusal's\n  millisecond is HTTP on loopback.",
        findings.ask_ns
    );
}

fn lesson(passed: bool) {
    if passed {
        println!(
            "\nWithout a fuse every checkout paid the whole timeout and every one reached the hung\n\
             service; without bulkheads the hung calls took the shared workers and the product\n\
             pages waited behind them. With both, checkout failed at once, the payment service saw\n\
             a probe a second, the product pages never noticed, and one probe found it back.\n"
        );
    } else {
        println!(
            "\nSome figures fell outside what the guards promise. On a very busy machine latencies\n\
             stretch: close what else is running and try again.\n"
        );
    }
}

/// The run's report directory, as every scenario writes it (`verdict.json` with the checks,
/// `history.jsonl` of every request, `report.html`, the node logs), plus `timeline.txt`
/// (what the terminal showed) and `figures.json`. Returns the terminal's table.
fn write_report(
    args: &demo::Demo,
    started: SystemTime,
    cluster: &Cluster,
    demo: &Demo<'_>,
    outcome: &Result<Findings, String>,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    let timeline = demo.timeline.lock().join("\n") + "\n";
    std::fs::write(out.join("timeline.txt"), timeline).map_err(io)?;
    let spans = demo.spans.lock().clone();
    let mut results = match outcome {
        Ok(findings) => checks(findings),
        Err(why) => vec![
            CheckResult::new("the demo ran to its end", 0.0, check::Bound::AtLeast, 1.0)
                .detail(why.clone()),
        ],
    };
    report::explain::attach_logs(&mut results, out, started, &spans);
    if let Ok(findings) = outcome {
        let part = |p: &Part| {
            json!({
                "hung_at_s": p.hung_at.as_secs_f64(),
                "healed_at_s": p.healed_at.as_secs_f64(),
                "checkout_p50_ms": ms(p.checkout_p50),
                "checkout_p99_ms": ms(p.checkout_p99),
                "refused_by_fuse": p.refused,
                "refused_p99_ms": ms(p.refused_p99),
                "calls_to_payment_per_second": p.calls_per_second,
                "product_p99_healthy_ms": ms(p.product_p99_healthy),
                "product_p99_hung_ms": ms(p.product_p99_hung),
                "product_failed_hung": p.product_failed_hung,
                "first_receipt_after_heal_ms": p.recovered_after.map(ms),
            })
        };
        let figures = json!({
            "call_timeout_ms": ms(TIMEOUT),
            "fuse_reset_ms": ms(RESET),
            "workers_per_dependency": WORKERS,
            "guarded": part(&findings.guarded),
            "naive": part(&findings.naive),
            "blown_ask_ns": findings.ask_ns,
        });
        let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
        std::fs::write(out.join("figures.json"), text + "\n").map_err(io)?;
    }
    let load = LoadReport::from_history(&demo.history, 1);
    let run = report::Run {
        title: "fuse: a hung payment service, with fuses and bulkheads and without",
        seed: None,
        load: &load,
        history: &demo.history,
        checks: &results,
        faults: &spans,
        inconclusive: None,
    };
    report::write(out, &run).map_err(|e| e.to_string())
}
