#!/usr/bin/env bash
# The whole test suite, again and again, beside a CPU hog: the lab's zero-flake check.
#
#   scripts/stress.sh [RUNS] [COMMIT]      (defaults: 10 runs, HEAD)
#
# Clones this repository at COMMIT into a scratch directory (your checkout and its target
# directory are left alone), builds the tests once, then RUNS times: `stress-ng --cpu 2`
# alongside a plain `cargo test --locked --no-fail-fast`. One line per run, each run's log
# kept (the clone and its several GB of build are removed at the end), and the count at the
# end; exit 0 only if every run passed. A failing test's name is printed with its run; read
# its log for why. About 5 minutes a run on 2 cores.
#
# Needs stress-ng (Debian: apt-get install stress-ng). The hog is stopped when a run ends,
# and on Ctrl-C.
set -euo pipefail
exec </dev/null

runs=${1:-10}
commit=${2:-HEAD}
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v stress-ng >/dev/null 2>&1; then
    echo "stress.sh: stress-ng is missing; install it (Debian: apt-get install stress-ng)" >&2
    exit 2
fi
case $runs in
'' | *[!0-9]*) echo "stress.sh: RUNS must be a whole number, got '$runs'" >&2; exit 2 ;;
esac
rev=$(git -C "$here" rev-parse --verify --quiet "$commit^{commit}") || {
    echo "stress.sh: '$commit' is not a commit of $here" >&2
    exit 2
}

scratch=$(mktemp -d)
logs="$scratch/logs"
mkdir -p "$logs"
hog=""
stop_hog() {
    if [ -n "$hog" ]; then
        kill "$hog" 2>/dev/null || true
        wait "$hog" 2>/dev/null || true
        hog=""
    fi
}
# The scratch clone's target directory is several GB: only the logs outlive the script.
finish() {
    stop_hog
    rm -rf "$scratch/repo" "$scratch/lab-runs"
}
trap finish EXIT
trap 'finish; exit 130' INT TERM

git clone -q "$here" "$scratch/repo"
git -C "$scratch/repo" checkout -q "$rev"
cd "$scratch/repo"
export CARGO_TERM_COLOR=never LAB_RUNS_DIR="$scratch/lab-runs"
echo "commit $(git rev-parse --short HEAD), $runs runs, logs in $logs"
cargo fetch --locked >/dev/null
echo "building the tests (once)..."
cargo test --locked --no-run >"$logs/build.log" 2>&1 || {
    echo "the tests did not build: $logs/build.log" >&2
    exit 1
}

passed=0
for i in $(seq 1 "$runs"); do
    stress-ng --cpu 2 --timeout 3600s >/dev/null 2>&1 &
    hog=$!
    start=$(date +%s)
    if cargo test --locked --no-fail-fast >"$logs/run-$i.log" 2>&1; then
        verdict=PASS
        passed=$((passed + 1))
    else
        verdict=FAIL
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    stop_hog
    left=$(pgrep -f "$LAB_RUNS_DIR" | wc -l || true)
    echo "run $i: $verdict in $(($(date +%s) - start)) s (load $load, $left node processes left)"
    if [ "$verdict" = FAIL ]; then
        grep -E '^    [a-z_:0-9]+$' "$logs/run-$i.log" | sort -u | sed 's/^ */    failed: /' || true
    fi
done
echo "$passed of $runs runs passed beside stress-ng --cpu 2 (logs in $logs)"
[ "$passed" -eq "$runs" ]
