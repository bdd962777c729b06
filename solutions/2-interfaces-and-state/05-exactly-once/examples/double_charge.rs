//! `cargo lab demo double-charge`: charges sent at least once over a link that loses replies,
//! to a ledger without a dedup table, to one with it, and to one whose node dies.
//!
//! A scenario file cannot tell this story: its workload is cart traffic, and what matters here
//! is the ledger's own books (`GET /internal/ledger`: how many times each request id was
//! charged). So this demo is code, and lives beside the exercise it shows. Three acts, each
//! printing a line a second (charges sent, receipts, charges applied, double charges):
//! 1. a ledger started with `--no-dedup`, 1000 charges through a link that loses a quarter of
//!    its replies: every lost reply is a retry, and every retry a second charge;
//! 2. the same against a ledger with its dedup table: no double charge, the repeats answered
//!    from the table, and the table no larger than the client's window;
//! 3. that ledger's node killed while 50 charges whose replies were lost are being retried,
//!    and started again: the books survive, the table does not, and the 50 are charged twice.
//!
//! It ends with the checks and the run's report directory (`verdict.json`, `history.jsonl` of
//! every charge, `report.html` with the acts shaded, the node logs (`n1-act1.log`, `n1.log`), `timeline.txt`, and each
//! act's ledger as `ledger-<act>.json`).
//!
//! The lab runs it (`cargo lab demo double-charge [--impl exercise] [--seed S]`) with the node
//! binary it built, solution or exercise: `--node <binary> --out <dir> [--seed S]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use exactly_once_solution::{Backoff, Client, DEFAULT_WINDOW, LedgerView};
use harness::Cluster;
use harness::check::{Bound, CheckResult};
use harness::demo::{self, broke, verdict};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Span};
use tokio::task::JoinSet;

/// Charges per act, and how often one starts.
const CHARGES: usize = 1000;
const EVERY: Duration = Duration::from_millis(2);
/// The share of replies the link loses in acts 1 and 2.
const LOST: f64 = 0.25;
/// Charges in flight when the node dies in act 3.
const IN_FLIGHT: usize = 50;
/// What each charge takes: 19.99.
const CENTS: u64 = 1999;

const INTRO: &str = "\
Exactly-once delivery is impossible: a reply can be lost after the work is done, and the
sender cannot tell a lost request from a lost reply. So the shop's front-end sends every
charge at least once (exercise 04's sender), and some charges arrive twice. Whether the
customer pays twice is up to the ledger.
The link between the front-end and the ledger loses a quarter of its replies: the card is
charged, the front-end hears nothing, and sends the charge again.
Act 1: a ledger without a dedup table. Act 2: a ledger that remembers each request id's reply
and answers a repeat with it, forgetting whatever the client acknowledges. Act 3: the node
that holds that table dies while charges are being retried.";

fn main() -> ExitCode {
    let args = demo::Demo::start("double-charge", INTRO);
    // The seed draws the proxy's lost replies and the senders' jitter.
    let seed = args.seed_or_random();
    println!(
        "ledger nodes of {} ({}), seed {seed}\n",
        args.whose,
        args.node_name(),
    );
    let runtime = match demo::Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return broke(&format!("cannot create {}: {e}", args.out.display()));
    }
    let mut demo = Demo::new(&args.out, seed);
    let outcome = runtime.block_on(script(&mut demo, &args.node));
    let started = SystemTime::now() - demo.start.elapsed();
    match (outcome, demo.write_report(started)) {
        (Ok(()), Ok(table)) => {
            let passed = demo.findings.checks().iter().all(|c| c.passed);
            lesson(&demo.findings, passed);
            println!("replay it: cargo lab demo double-charge --seed {seed}\n");
            // The report's path comes last: it is what the audience opens next.
            print!("{table}");
            verdict(passed)
        }
        (Ok(_), Err(e)) => broke(&format!("could not write the report: {e}")),
        (Err(e), _) => {
            eprintln!("the node logs are in {}", args.out.display());
            broke(&format!("the demo broke: {e}"))
        }
    }
}

/// What the three acts found.
#[derive(Debug, Default)]
struct Findings {
    without: Act,
    with: Act,
    crash: Act,
}

/// One act's figures, from the ledger's books.
#[derive(Debug, Default, Clone)]
struct Act {
    charges: usize,
    receipts: usize,
    doubles: usize,
    extra_charges: u64,
    repeats: u64,
    table_peak: usize,
}

impl Findings {
    fn checks(&self) -> Vec<CheckResult> {
        vec![
            CheckResult::new(
                "act 1, no dedup table: charges taken twice",
                self.without.doubles as f64,
                Bound::AtLeast,
                1.0,
            ),
            CheckResult::new(
                "act 2, with the dedup table: charges taken twice",
                self.with.doubles as f64,
                Bound::AtMost,
                0.0,
            ),
            CheckResult::new(
                "act 2: the most entries the table held",
                self.with.table_peak as f64,
                Bound::AtMost,
                DEFAULT_WINDOW as f64,
            ),
            CheckResult::new(
                "act 3, the table's node killed: charges taken twice",
                self.crash.doubles as f64,
                Bound::AtLeast,
                1.0,
            ),
        ]
    }
}

/// The run's shared record: every charge in the history, every printed line, the acts.
struct Demo {
    out: PathBuf,
    seed: u64,
    start: Instant,
    history: History,
    timeline: Vec<String>,
    spans: Vec<Span>,
    findings: Findings,
}

impl Demo {
    fn new(out: &Path, seed: u64) -> Demo {
        let start = Instant::now();
        Demo {
            out: out.to_path_buf(),
            seed,
            start,
            history: History::starting_at(start),
            timeline: Vec::new(),
            spans: Vec::new(),
            findings: Findings::default(),
        }
    }

    fn print(&mut self, line: String) {
        println!("{line}");
        self.timeline.push(line);
    }

    fn say(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }

    fn act_starts(&mut self, label: &str) {
        let now = self.start.elapsed();
        self.spans.push(Span {
            label: label.into(),
            start: now,
            end: now,
            nodes: vec!["n1".into()],
        });
    }

    fn act_ends(&mut self) {
        let now = self.start.elapsed();
        if let Some(span) = self.spans.last_mut() {
            span.end = now;
        }
    }

    /// Keeps a copy of the node's log, as `file` in the report, before its cluster goes.
    fn keep_log(&self, cluster: &Cluster, file: &str) {
        let _ = std::fs::copy(cluster.log_path("n1"), self.out.join(file));
    }

    fn save_ledger(&self, act: &str, books: &LedgerView) {
        if let Ok(text) = serde_json::to_string_pretty(books) {
            let _ = std::fs::write(self.out.join(format!("ledger-{act}.json")), text + "\n");
        }
    }

    fn write_report(&self, started: SystemTime) -> Result<String, String> {
        let io = |e: std::io::Error| format!("{}: {e}", self.out.display());
        std::fs::write(
            self.out.join("timeline.txt"),
            self.timeline.join("\n") + "\n",
        )
        .map_err(io)?;
        let mut checks = self.findings.checks();
        report::explain::attach_logs(&mut checks, &self.out, started, &self.spans);
        let load = LoadReport::from_history(&self.history, 1);
        let run = report::Run {
            title: "double-charge: charges over lost replies, without and with a dedup table",
            seed: Some(self.seed),
            load: &load,
            history: &self.history,
            checks: &checks,
            faults: &self.spans,
            inconclusive: None,
        };
        report::write(&self.out, &run).map_err(|e| e.to_string())
    }
}

/// One ledger node of `bin` with the node flags `flags`.
fn ledger_node(bin: &Path, flags: &[&str], seed: u64) -> Result<Cluster, String> {
    Cluster::builder(bin)
        .nodes(1)
        .args(flags.iter().copied())
        .seed(seed)
        .start()
        .map_err(|e| format!("the ledger node did not start: {e}"))
}

/// A front-end's client of n1: retries every 20 to 200 ms (jittered), 10 s per charge.
fn client(cluster: &Cluster, id: &str, seed: u64) -> Arc<Client> {
    Arc::new(
        Client::new(id, [("n1", cluster.addr("n1").to_string())])
            .backoff(Backoff {
                base: Duration::from_millis(20),
                cap: Duration::from_millis(200),
                jitter: true,
            })
            .seed(seed),
    )
}

/// The books, straight from the node (past the proxy and its lost replies).
async fn books(cluster: &Cluster) -> Result<LedgerView, String> {
    let addr = cluster
        .direct_addr("n1")
        .ok_or("n1 is not running".to_string())?;
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/internal/ledger"))
        .header(node_kit::COOKIE_HEADER, cluster.cookie())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("n1 did not answer GET /internal/ledger: {e}"))?;
    answer
        .json()
        .await
        .map_err(|e| format!("n1's ledger is not JSON: {e}"))
}

/// Counters the per-second line reads.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    receipts: AtomicU64,
}

/// `count` charges by `client`, one every `every`, each recorded in the history; prints a
/// line a second (sent, receipts, charged, doubles) until they are all answered.
async fn charge_all(
    demo: &mut Demo,
    cluster: &Cluster,
    client: &Arc<Client>,
    count: usize,
    every: Duration,
) -> Result<usize, String> {
    let progress = Arc::new(Progress::default());
    let mut charges = JoinSet::new();
    let sends = {
        let client = client.clone();
        let history = demo.history.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut schedule = tokio::time::interval(every);
            schedule.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0..count {
                schedule.tick().await;
                let client = client.clone();
                let history = history.clone();
                let progress = progress.clone();
                charges.spawn(async move {
                    let name = format!("charge by {}", client.id());
                    let op = history.invoke("n1", Action::Request { name });
                    progress.sent.fetch_add(1, Ordering::Relaxed);
                    let order = format!("{}-order-{i}", client.id());
                    let charged = client.charge(&order, CENTS, "4242424242424242").await;
                    match &charged.outcome {
                        Ok(_) => {
                            progress.receipts.fetch_add(1, Ordering::Relaxed);
                            op.ok();
                        }
                        Err(e) if e.is_unknown() => op.unknown(e.to_string()),
                        Err(e) => op.fail(e.to_string()),
                    }
                });
            }
            let mut receipts = 0;
            while let Some(done) = charges.join_next().await {
                done.map_err(|e| format!("a charge task failed: {e}"))?;
                receipts += 1;
            }
            Ok::<usize, String>(receipts)
        })
    };
    let prefix = format!("{}-", client.id());
    let mut next_line = Instant::now() + Duration::from_secs(1);
    loop {
        if sends.is_finished() {
            break;
        }
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(1);
            if let Ok(books) = books(cluster).await {
                let mine = books.charges.iter().filter(|(k, _)| k.starts_with(&prefix));
                let (charged, doubles) =
                    mine.fold((0, 0), |(c, d), (_, n)| (c + n, d + usize::from(*n > 1)));
                let line = format!(
                    "  {:>6.1}s  {:>6}  {:>8}  {:>7}  {:>7}",
                    demo.start.elapsed().as_secs_f64(),
                    progress.sent.load(Ordering::Relaxed),
                    progress.receipts.load(Ordering::Relaxed),
                    charged,
                    doubles
                );
                demo.print(line);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sends
        .await
        .map_err(|e| format!("the sends failed: {e}"))??;
    Ok(progress.receipts.load(Ordering::Relaxed) as usize)
}

fn header(demo: &mut Demo) {
    demo.print(format!(
        "  {:>7}  {:>6}  {:>8}  {:>7}  {:>7}",
        "t", "sent", "receipts", "charged", "doubles"
    ));
}

/// `client`'s figures in `books`.
fn act_of(books: &LedgerView, client: &str, charges: usize, receipts: usize) -> Act {
    let prefix = format!("{client}-");
    let mine: Vec<u32> = books
        .charges
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, n)| *n)
        .collect();
    let table = books.tables.get(client).copied().unwrap_or_default();
    Act {
        charges,
        receipts,
        doubles: mine.iter().filter(|n| **n > 1).count(),
        extra_charges: mine.iter().map(|n| u64::from(n.saturating_sub(1))).sum(),
        repeats: books.repeats,
        table_peak: table.peak,
    }
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

async fn script(demo: &mut Demo, bin: &Path) -> Result<(), String> {
    let seed = demo.seed;

    // Act 1: no table.
    let cluster = ledger_node(bin, &["--no-dedup"], seed)?;
    demo.say(&format!(
        "act 1: a ledger without a dedup table (--no-dedup). {CHARGES} charges of {}, a quarter of the replies lost.",
        dollars(CENTS)
    ));
    header(demo);
    demo.act_starts("act 1: no dedup table, replies lost");
    cluster.client_link("n1").drop_response(LOST);
    let client1 = client(&cluster, "shop-1", seed);
    let receipts = charge_all(demo, &cluster, &client1, CHARGES, EVERY).await?;
    cluster.client_link("n1").clear();
    demo.act_ends();
    let ledger = books(&cluster).await?;
    demo.save_ledger("act1", &ledger);
    let act = act_of(&ledger, "shop-1", CHARGES, receipts);
    demo.say(&format!(
        "every customer got a receipt ({} of {CHARGES}), and {} of them were charged twice or more: {} taken that nobody owed.",
        act.receipts,
        act.doubles,
        dollars(act.extra_charges * CENTS)
    ));
    demo.findings.without = act;
    demo.keep_log(&cluster, "n1-act1.log");
    drop(cluster);
    println!();

    // Act 2: the table.
    let cluster = ledger_node(bin, &[], seed)?;
    demo.say(&format!(
        "act 2: the same, against a ledger with its dedup table (the client's window: {DEFAULT_WINDOW})."
    ));
    header(demo);
    demo.act_starts("act 2: dedup table, replies lost");
    cluster.client_link("n1").drop_response(LOST);
    let client2 = client(&cluster, "shop-2", seed);
    let receipts = charge_all(demo, &cluster, &client2, CHARGES, EVERY).await?;
    cluster.client_link("n1").clear();
    demo.act_ends();
    let ledger = books(&cluster).await?;
    demo.save_ledger("act2", &ledger);
    let act = act_of(&ledger, "shop-2", CHARGES, receipts);
    demo.say(&format!(
        "{} receipts, {} charged twice: the table answered {} repeats with their original receipts, and never held more than {} request ids.",
        act.receipts, act.doubles, act.repeats, act.table_peak
    ));
    demo.findings.with = act;
    println!();

    // Act 3: the table's node dies.
    demo.say(&format!(
        "act 3: every reply lost while {IN_FLIGHT} charges go out; each is charged once and retried, and answered from the table."
    ));
    demo.act_starts("act 3: the table's node killed");
    cluster.client_link("n1").drop_response(1.0);
    let client3 = Arc::new(
        Client::new("shop-3", [("n1", cluster.addr("n1").to_string())])
            .backoff(Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_millis(400),
                jitter: true,
            })
            .seed(seed)
            .deadline(Duration::from_secs(20)),
    );
    let batch = {
        let client = client3.clone();
        tokio::spawn(async move {
            let mut charges = JoinSet::new();
            for i in 0..IN_FLIGHT {
                let client = client.clone();
                charges.spawn(async move {
                    client
                        .charge(&format!("shop-3-order-{i}"), CENTS, "4242424242424242")
                        .await
                });
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            charges.join_all().await
        })
    };
    let waited = Instant::now();
    loop {
        let ledger = books(&cluster).await?;
        let charged = ledger
            .charges
            .keys()
            .filter(|k| k.starts_with("shop-3-"))
            .count();
        if charged >= IN_FLIGHT {
            break;
        }
        if waited.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "only {charged} of {IN_FLIGHT} charges reached the ledger in 10 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let repeats = books(&cluster).await?.repeats;
    demo.say(&format!(
        "all {IN_FLIGHT} charged once; the table has answered {} repeats so far. Now SIGKILL n1, and start it again.",
        repeats - demo.findings.with.repeats
    ));
    cluster.kill("n1").map_err(|e| e.to_string())?;
    cluster.client_link("n1").clear();
    cluster.restart("n1").map_err(|e| e.to_string())?;
    demo.say("n1 is back: its books are on file, its table was in memory. The retries arrive.");
    let charged = batch.await.map_err(|e| format!("the batch failed: {e}"))?;
    demo.act_ends();
    let receipts = charged.iter().filter(|c| c.outcome.is_ok()).count();
    let ledger = books(&cluster).await?;
    demo.save_ledger("act3", &ledger);
    let act = act_of(&ledger, "shop-3", IN_FLIGHT, receipts);
    demo.say(&format!(
        "{} receipts, and {} of {IN_FLIGHT} charged twice: the restarted node had forgotten every request id it answered.",
        act.receipts, act.doubles
    ));
    demo.findings.crash = act;
    demo.keep_log(&cluster, "n1.log");
    drop(cluster);
    Ok(())
}

fn lesson(findings: &Findings, passed: bool) {
    println!();
    println!(
        "  act 1, no table:     {:>4} of {} charged twice",
        findings.without.doubles, findings.without.charges
    );
    println!(
        "  act 2, dedup table:  {:>4} of {} charged twice ({} repeats answered, table peak {})",
        findings.with.doubles,
        findings.with.charges,
        findings.with.repeats,
        findings.with.table_peak
    );
    println!(
        "  act 3, node killed:  {:>4} of {} charged twice",
        findings.crash.doubles, findings.crash.charges
    );
    if passed {
        println!(
            "\nAt least once plus a dedup table is an exactly-once effect, for as long as the table\n\
             lives. The charge survived the crash and the memory of it did not: keeping a second\n\
             copy of that state is what the Availability section is about.\n"
        );
    } else {
        println!(
            "\nThe figures are not what the story says: read the checks below and the node logs in\n\
             the report directory.\n"
        );
    }
}
