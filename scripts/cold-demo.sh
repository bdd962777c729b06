#!/usr/bin/env bash
# The README's run command on a fresh clone, timed: what a newcomer waits for (issue 13's goal:
# the demo running within 90 s on a 2-core machine).
#
#   scripts/cold-demo.sh [COMMIT]      # default: HEAD
#
# Clones the repository at COMMIT into a scratch directory, downloads the crates first
# (`cargo fetch`: the network is not what is measured), then runs `cargo lab demo` on a
# fresh target directory and prints every line it prints with the seconds since it began.
# Read off: the line `Finished dev profile` (the lab command is built), the demo's title
# (`== demo: ... ==`) and its first traffic line (`1s ...`). The clone is removed at the end,
# also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --verify --quiet "${1:-HEAD}^{commit}") || {
    echo "cold-demo: '${1:-HEAD}' is not a commit here" >&2
    exit 2
}
command -v python3 >/dev/null || { echo "cold-demo: needs python3 (to timestamp the lines)" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone --quiet "$PWD" "$scratch/lab"
git -C "$scratch/lab" checkout --quiet "$commit"
echo "cold-demo: $commit in $scratch/lab; fetching crates (not timed)" >&2
(cd "$scratch/lab" && cargo fetch --locked --quiet)
cd "$scratch/lab"
python3 - <<'PY'
import subprocess, time
start = time.monotonic()
run = subprocess.Popen(["cargo", "lab", "demo"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
for line in run.stdout:
    print(f"{time.monotonic() - start:7.1f}s {line.rstrip()}", flush=True)
run.wait()
print(f"{time.monotonic() - start:7.1f}s cargo lab demo exited {run.returncode}")
PY
