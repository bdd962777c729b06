#!/usr/bin/env bash
# The harness's fault proxy against a bare tokio copy_bidirectional proxy and against no
# proxy: wrk -t2 -c32 on the test node's GET /health, alternating, in rounds (default 3 of
# 10 s per target, in turns of 1 s). Prints each round and the ratios: throughput over the
# bare proxy's (goal >= 1.0) and the latency added to the p50 over what the bare proxy adds
# (goal <= 1.2), and their means over the rounds.
#
#   scripts/compare-proxy.sh [rounds] [seconds] [turn]
#
# Needs wrk (Debian/Ubuntu: sudo apt-get install -y wrk). The generator's comparison with oha
# is scripts/compare-load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "wrk is missing: install it with 'sudo apt-get install -y wrk' (skipping the proxy comparison)" >&2
  exit 0
fi
cargo build --quiet --release -p harness --bin test-node --example proxy_compare
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/examples/proxy_compare" "$@" # its defaults: 3 10 1
