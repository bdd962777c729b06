#!/usr/bin/env bash
# The test gate: formatting, lints, every test of the harness and the solutions, then the
# exercise/solution pairs. CI runs exactly this; run it yourself before you push.
#
#   scripts/test.sh
#
# A plain `cargo test` at the root runs the default members (harness and solutions); the
# skeletons under exercises/ fail by design and are checked by `cargo lab verify` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

gate_start=$(date +%s)
stage() {
    local name=$1
    shift
    local start
    start=$(date +%s)
    echo "==> ${name}: $*"
    "$@"
    echo "<== ${name}: $(( $(date +%s) - start )) s"
}

stage format cargo fmt --all --check
stage lint cargo clippy --all-targets --locked -- -D warnings
stage test cargo test --locked
# The solutions' tests have just passed in `cargo test`: verify lists them instead of running
# them again, and checks every skeleton and the pair's sync.
stage verify cargo lab verify --tested
echo "test gate passed in $(( $(date +%s) - gate_start )) s"
