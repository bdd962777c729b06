//! The knee: where a ramp of offered load stops being served as offered. First on made-up
//! steps (no node), then on a real ramp against the node of known capacity, c / s = 200/s.

mod common;

use std::time::Duration;

use capacity::{KEEP_UP, Ramp, Step, knee, node};
use common::{CAPACITY, GIVE_UP, SLO, ms, work, work_url};
use harness::load::Mode;
use harness::ramp::RampReport;
use harness::{Cluster, block_on};

/// A made-up step: offered `offered`, served `throughput`, with a p99 of `p99_ms`.
fn step(offered: f64, throughput: f64, p99_ms: u64) -> Step {
    let p99 = Duration::from_millis(p99_ms);
    Step {
        offered,
        start: Duration::ZERO,
        sent: offered as u64,
        ok: offered as u64,
        errors: 0,
        throughput,
        mean: p99 / 2,
        p50: p99 / 2,
        p99,
        max: p99,
    }
}

#[test]
fn the_knee_is_the_last_step_the_node_kept_up_with() {
    let slo = Duration::from_millis(100);
    // Latency leaves the promise first: 300/s is still served, but 120 ms at p99.
    let latency_bound = [
        step(100.0, 100.0, 20),
        step(200.0, 199.0, 30),
        step(300.0, 290.0, 120),
        step(400.0, 300.0, 900),
    ];
    assert_eq!(
        knee(&latency_bound, slo),
        Some(200.0),
        "the p99 left the 100 ms SLO at the 300/s step, so the knee is the step before it"
    );
    // Throughput stops following first: at 300/s only 250 come back, quickly.
    let throughput_bound = [
        step(100.0, 100.0, 20),
        step(200.0, 200.0, 20),
        step(300.0, 250.0, 20),
        step(400.0, 400.0, 20),
    ];
    assert_eq!(
        knee(&throughput_bound, slo),
        Some(200.0),
        "at the 300/s step the throughput fell under {KEEP_UP} of the offered rate: \
         the knee is 200/s, whatever later steps did"
    );
    // On the bounds exactly is still keeping up.
    let at_the_bounds = [
        step(100.0, 100.0, 100),
        step(500.0, KEEP_UP * 500.0, 100),
        step(600.0, 600.0, 101),
    ];
    assert_eq!(
        knee(&at_the_bounds, slo),
        Some(500.0),
        "a p99 equal to the SLO and a throughput of exactly {KEEP_UP} of the offered rate \
         still keep up"
    );
    assert_eq!(
        knee(&[step(100.0, 100.0, 500), step(200.0, 200.0, 20)], slo),
        None,
        "a ramp whose first step is already past the SLO has no knee inside it"
    );
    assert_eq!(
        knee(&[step(100.0, 100.0, 20), step(200.0, 200.0, 20)], slo),
        None,
        "a ramp that never fell behind has not reached its knee"
    );
    assert_eq!(knee(&[], slo), None, "no steps, no knee");
}

/// 0.3 to 1.3 times capacity in 6 steps of half a second: 60, 100, 140, 180, 220, 260/s.
fn ramp() -> Ramp {
    Ramp {
        from: 0.3 * CAPACITY,
        to: 1.3 * CAPACITY,
        steps: 6,
        hold: Duration::from_millis(500),
    }
}

async fn ramp_on(cluster: &Cluster, node: &str, mode: Mode) -> RampReport {
    let (client, url) = (node::client(), work_url(cluster, node));
    ramp()
        .run(mode, GIVE_UP, move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move { work(&client, &url).await }
        })
        .await
        .expect("the ramp runs")
}

fn table(steps: &[Step]) -> String {
    let mut out = String::from("  offered/s  served/s   p50 ms   p99 ms\n");
    for s in steps {
        out.push_str(&format!(
            "  {:>9.0} {:>9.0} {:>8.1} {:>8.1}\n",
            s.offered,
            s.throughput,
            ms(s.p50),
            ms(s.p99)
        ));
    }
    out
}

/// Why a run measured a machine too busy to keep time, if it did: a step below capacity
/// whose median request took over twice the service time.
fn busy_machine(steps: &[Step]) -> Option<String> {
    let slow = steps
        .iter()
        .find(|s| s.offered < CAPACITY && s.p50 > common::SERVICE_TIME * 2)?;
    Some(format!(
        "the machine was busy: at {:.0}/s, below capacity, the median request took {:.1} ms \
         where the node serves in {} ms",
        slow.offered,
        ms(slow.p50),
        common::SERVICE_TIME.as_millis()
    ))
}

#[test]
fn a_ramp_finds_the_knee_near_c_over_s_and_a_closed_loop_finds_its_own_limit() {
    assert_eq!(knee(&[], SLO), None, "no steps, no knee");
    let cluster = common::start(1);
    block_on(async {
        let first = work(&node::client(), &work_url(&cluster, "n1")).await;
        assert_eq!(
            first,
            harness::load::Outcome::Ok,
            "one request to an idle node"
        );

        // Open loop: the ramp offers each step's rate whatever the node does. A machine too
        // busy to keep time (another build on both cores) slows every request below
        // capacity, where the node serves in 20 ms: that run measured the machine, not the
        // node, so it is run again (up to three runs).
        let mut run = 1;
        let open = loop {
            let open = ramp_on(&cluster, "n1", Mode::Open).await;
            println!("open loop, run {run}:\n{}", table(&open.steps));
            match busy_machine(&open.steps) {
                Some(why) if run < 3 => println!("{why}; running the ramp again"),
                _ => break open,
            }
            run += 1;
        };
        let found = knee(&open.steps, SLO);
        println!("knee {found:?} of c/s = {CAPACITY}/s");
        let Some(rate) = found else {
            panic!(
                "a ramp from 0.3 to 1.3 times capacity has a knee inside it (SLO p99 \
                 {SLO:?}){}:\n{}",
                busy_machine(&open.steps).map_or(String::new(), |why| format!("; {why}")),
                table(&open.steps)
            );
        };
        assert!(
            (0.75..=1.25).contains(&(rate / CAPACITY)),
            "the knee {rate}/s should be within 25% of c/s = {CAPACITY}/s{}:\n{}",
            busy_machine(&open.steps).map_or(String::new(), |why| format!(" ({why})")),
            table(&open.steps)
        );

        // The control: the same ramp from a closed loop of 2 workers. Each waits for its
        // reply, about 21 ms, so by Little's law it can offer at most 2 / 21 ms, under 100
        // a second: the "knee" it finds is its own, and the node never looked busy.
        let closed = ramp_on(&cluster, "n1", Mode::Closed { workers: 2 }).await;
        println!("closed loop of 2:\n{}", table(&closed.steps));
        let naive = knee(&closed.steps, SLO).unwrap_or(f64::INFINITY);
        assert!(
            naive <= 0.6 * CAPACITY,
            "a closed loop of 2 cannot offer more than about 2 / 21 ms, yet its ramp's knee \
             is {naive}/s:\n{}",
            table(&closed.steps)
        );
        let medians: Vec<Duration> = closed
            .steps
            .iter()
            .filter(|s| s.sent > 0)
            .map(|s| s.p50)
            .collect();
        let (lowest, highest) = (medians.iter().min(), medians.iter().max());
        assert!(
            matches!((lowest, highest), (Some(&lo), Some(&hi)) if hi <= lo * 5 / 2),
            "the closed loop never queued at the node, so its median latency should have stayed \
             flat all the way up (within 2.5x of its lowest):\n{}",
            table(&closed.steps)
        );
        // Little's law read backwards: 2 in flight for W each is 2 / W a second.
        let busy: Vec<&Step> = closed.steps.iter().filter(|s| s.sent > 0).collect();
        let w = busy.iter().map(|s| s.mean.as_secs_f64()).sum::<f64>() / busy.len() as f64;
        let best = closed
            .steps
            .iter()
            .map(|s| s.throughput)
            .fold(0.0, f64::max);
        println!(
            "the closed loop's best: {best:.0}/s; Little's law: 2 in flight at W = {:.1} ms is \
             {:.0}/s",
            w * 1000.0,
            2.0 / w
        );
    });
}
