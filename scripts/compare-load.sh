#!/usr/bin/env bash
# `cargo lab load` against oha and wrk, on one axum hello-world target, alternating in one run.
#
#   scripts/compare-load.sh                 # 3 rounds of 10 s per measurement
#   ROUNDS=5 SECS=5 RATES="20000 40000 60000" scripts/compare-load.sh
#
# Each round measures, each tool twice for half the time in mirrored order (lab oha wrk wrk oha
# lab, then the reverse in the next round, so that a machine growing busier or calmer during a
# round does not favour one tool; a tool's figure is the mean of its two turns):
#   - closed loop, 32 connections, as fast as each tool goes: requests/s (wrk -t2 -c32);
#   - each open-loop rate in RATES: `cargo lab load --rate R` against `oha -q R
#     --latency-correction -c 32` (oha's open loop: latency from the intended send time):
#     the rate achieved, lab's late sends, and the p99 of each.
# and prints, per round, each figure with its ratio to oha's and wrk's, and the load average.
# The goal (issue 13): closed loop at least oha's throughput; at every rate oha keeps, at most
# 1% late sends and a p99 within 1.5x oha's.
#
# `cargo lab load` runs as an attendee runs it (the dev profile, through the launcher); the
# target is `harness/core/examples/hello_target.rs`, in release. oha missing: it says how to
# install it and measures without it; wrk missing: the same.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
TURN=$(( (SECS + 1) / 2 )) # each tool's two turns take half the time each
RATES=${RATES:-"20000 40000"}
CONNS=32
PORT=${PORT:-18099}
URL="http://127.0.0.1:$PORT/"

cd "$(dirname "$0")/.."
say() { printf '%s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }
if ! have python3; then
    say "compare-load: needs python3 (to read the tools' JSON)"
    exit 2
fi
OHA=1
if ! have oha; then
    OHA=0
    say "compare-load: oha is not installed, so it is skipped; to compare with it:"
    say "  cargo install oha --locked    # several minutes on 2 cores"
fi
WRK=1
if ! have wrk; then
    WRK=0
    say "compare-load: wrk is not installed, so it is skipped (Debian/Ubuntu: apt-get install wrk)"
fi

say "compare-load: building the target (release) and the lab command (dev, as attendees run it)"
cargo build --quiet --release -p harness --example hello_target
cargo lab --help >/dev/null
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

"$target_dir/release/examples/hello_target" "127.0.0.1:$PORT" >/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

# One figure set per measurement, on one line: "rps p99_ms late_pct".
lab() { # lab closed|RATE
    local args=(--url "$URL" --duration "${TURN}s" --json)
    if [ "$1" = closed ]; then
        args+=(--closed "$CONNS" --rate 1000000)
    else
        args+=(--rate "$1")
    fi
    cargo lab load "${args[@]}" | python3 -c '
import json, sys
s = json.load(sys.stdin)
p99 = s["p99_ms"]
# Closed loop at 1e6/s is late by design: its late sends say nothing.
late = "-" if s["mode"] == "closed" else round(100 * s["late_sends"] / max(s["sent"], 1), 2)
print(round(s["ok"] / s["duration_s"]), p99, late)'
}
oha_run() { # oha_run closed|RATE
    local args=(--no-tui --output-format json -z "${TURN}s" -c "$CONNS")
    if [ "$1" != closed ]; then args+=(-q "$1" --latency-correction); fi
    oha "${args[@]}" "$URL" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(round(s["summary"]["requestsPerSec"]), round(s["latencyPercentiles"]["p99"] * 1000, 3), "-")'
}
wrk_run() {
    wrk -t2 -c"$CONNS" -d"${TURN}s" --latency "$URL" | python3 -c '
import re, sys
out = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print(round(rps), round(p99, 3), "-")'
}

# The mean of two turns' "rps p99 late" lines ("-" stays "-").
mean2() {
    python3 -c '
import sys
a, b = sys.argv[1].split(), sys.argv[2].split()
def m(x, y, digits):
    return "-" if "-" in (x, y) else round((float(x) + float(y)) / 2, digits)
print(int(m(a[0], b[0], 0)), m(a[1], b[1], 3), m(a[2], b[2], 2))' "$1" "$2"
}

ratio() { python3 -c "a, b = float('$1'), float('$2'); print(f'{a / b:.2f}x' if b else '-')"; }

printf '%-6s %-10s %-5s %10s %9s %7s %8s %8s  %s\n' \
    round measure tool "req/s" "p99 ms" "late %" "vs oha" "vs wrk" "load average"
for round in $(seq "$ROUNDS"); do
    # Odd rounds start with lab, even ones with the others.
    if [ $((round % 2)) = 1 ]; then order="lab oha wrk wrk oha lab"; else order="wrk oha lab lab oha wrk"; fi
    for measure in closed $RATES; do
        declare -A got=()
        for tool in $order; do
            turn=
            case $tool in
            lab) turn=$(lab "$measure") ;;
            oha) if [ $OHA = 1 ]; then turn=$(oha_run "$measure"); fi ;;
            wrk) if [ $WRK = 1 ] && [ "$measure" = closed ]; then turn=$(wrk_run); fi ;;
            esac
            [ -n "$turn" ] || continue
            if [ -n "${got[$tool]:-}" ]; then got[$tool]=$(mean2 "${got[$tool]}" "$turn"); else got[$tool]=$turn; fi
        done
        load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*average: //')
        for tool in lab oha wrk; do
            [ -n "${got[$tool]:-}" ] || continue
            read -r rps p99 late <<<"${got[$tool]}"
            vs_oha=- vs_wrk=-
            if [ "$tool" = lab ] && [ -n "${got[oha]:-}" ]; then
                read -r orps op99 _ <<<"${got[oha]}"
                # Throughput: higher is better; open loop: the p99 ratio (lower is better).
                if [ "$measure" = closed ]; then vs_oha=$(ratio "$rps" "$orps"); else vs_oha="p99 $(ratio "$p99" "$op99")"; fi
            fi
            if [ "$tool" = lab ] && [ -n "${got[wrk]:-}" ]; then
                read -r wrps _ _ <<<"${got[wrk]}"
                vs_wrk=$(ratio "$rps" "$wrps")
            fi
            printf '%-6s %-10s %-5s %10s %9s %7s %8s %8s  %s\n' \
                "$round" "$measure" "$tool" "$rps" "$p99" "$late" "$vs_oha" "$vs_wrk" "$load"
        done
        unset got
    done
done
say "compare-load: closed = req/s at 32 connections (vs oha/wrk: lab's req/s over theirs, want >= 1.00x);"
say "  a rate = open loop at that rate (vs oha: lab's p99 over oha's, want <= 1.50x; late % want <= 1)"
