#!/usr/bin/env bash
# End to end on real containers: build the image, bring the compose cluster up, play the
# node-lost scenario on containers (a node killed under load; availability per second checked
# by the harness), play exercise 08's failover there (the primary killed under writes, nodes
# started with the scenario's own flags; nothing acknowledged may be lost), isolate a node
# and heal it, run the harness's ComposeCluster against the same image, and take everything
# down again.
#
#   scripts/compose-e2e.sh
#
# Skips (exit 0, with the reason) when this machine has no docker command, no compose command or
# no Docker engine that answers, so CI without Docker stays green. Fails (exit 1) on any failed
# check, and leaves no container, network or volume behind either way: the teardown runs on
# every exit and checks that nothing labelled with its project is left.
#
# It runs its own compose project (lab-e2e-<pid>) on free ports, so an instructor's cluster
# (project lab, ports 4001-4003) is never touched. Needs curl. About 90 to 120 s once the image's
# binaries are built (the first static build of the workspace takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

e2e_start=$(date +%s)
say() { echo "compose-e2e: $*"; }
skip() {
    say "skipped: $*"
    exit 0
}
fail() {
    say "FAILED: $*" >&2
    exit 1
}
stage() {
    local name=$1 start
    shift
    start=$(date +%s)
    echo "=== ${name}"
    "$@"
    echo "=== ${name}: $(($(date +%s) - start)) s"
}

# --- Is there a Docker to test against? -------------------------------------------------------
command -v docker >/dev/null || skip "no docker command on this machine"
if command -v docker-compose >/dev/null; then
    compose_cmd=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
else
    skip "neither docker-compose nor the docker compose plugin is installed"
fi
if command -v timeout >/dev/null; then
    timeout 20 docker info >/dev/null 2>&1 || skip "the Docker engine does not answer (docker info failed or took over 20 s)"
else
    docker info >/dev/null 2>&1 || skip "the Docker engine does not answer (docker info failed)"
fi
command -v curl >/dev/null || skip "curl is not installed; the checks need it"

# --- The run's own project, ports and scratch directory ----------------------------------------
project=lab-e2e-$$
label="label=com.docker.compose.project=$project"
work=$(mktemp -d)
export LAB_NODE=test-node # the e2e reads the test node's GET /peers
export LAB_IMAGE=${LAB_IMAGE:-lab-node:latest}

# Three ports nothing listens on, below the range the kernel hands out to outgoing
# connections (32768 and up on Linux), where a port found free stays free until `up` binds it.
pick_ports() {
    local n p taken=" "
    for n in 1 2 3; do
        while :; do
            p=$((20000 + RANDOM % 12000))
            case "$taken" in *" $p "*) continue ;; esac
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
        done
        taken="$taken$p "
        export "LAB_N${n}_PORT=$p"
    done
}

compose() { "${compose_cmd[@]}" -f docker-compose.yml -p "$project" "$@"; }
port_of() { case $1 in n1) echo "$LAB_N1_PORT" ;; n2) echo "$LAB_N2_PORT" ;; n3) echo "$LAB_N3_PORT" ;; esac }
# Containers by their compose labels, never by name (compose v1 and v2 name them differently).
container_of() { docker ps -aq --filter "$label" --filter "label=com.docker.compose.service=$1"; }
network() { docker network ls --filter "$label" --format '{{.Name}}'; }
# How node $1 sees node $2 in the test node's GET /peers: "up", "down: ..." or "" if $1 is silent.
peer_state() {
    curl -s -m 2 "http://127.0.0.1:$(port_of "$1")/peers" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(container_of "$1")"; }
# Waits up to $1 seconds for the command after it to succeed; prints how long it took.
within() {
    local limit=$1 start
    shift
    start=$(now)
    until "$@"; do
        if awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            return 1
        fi
        sleep 0.1
    done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}
# Seconds since the epoch with microseconds, without a fork where bash 5 allows it.
if [ -n "${EPOCHREALTIME:-}" ]; then
    now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }
else
    now() { perl -MTime::HiRes=time -e 'printf "%.6f\n", time'; }
fi

# --- Teardown, on every exit ------------------------------------------------------------------
# Removes everything labelled with a compose project: its containers, networks and volumes.
# shellcheck disable=SC2086 # the id lists are meant to split into words
purge() {
    local by="label=com.docker.compose.project=$1" left
    left=$(docker ps -aq --filter "$by")
    [ -z "$left" ] || docker rm -f $left >/dev/null 2>&1 || true
    left=$(docker network ls -q --filter "$by")
    [ -z "$left" ] || docker network rm $left >/dev/null 2>&1 || true
    left=$(docker volume ls -q --filter "$by")
    [ -z "$left" ] || docker volume rm -f $left >/dev/null 2>&1 || true
    left="$(docker ps -aq --filter "$by") $(docker network ls -q --filter "$by") $(docker volume ls -q --filter "$by")"
    [ -z "${left// /}" ]
}
cleanup() {
    local status=$?
    trap - EXIT
    echo "=== teardown"
    compose down -v --remove-orphans -t 2 >/dev/null 2>&1 || true
    # Anything compose did not know about (a container left by an interrupted step) goes too,
    # and so does what an interrupted `cargo lab scenario run --target compose` left.
    for p in "$project" lab-scenario; do
        if purge "$p"; then
            say "nothing of project $p is left (containers, networks, volumes)"
        else
            say "FAILED: project $p left something behind" >&2
            status=1
        fi
    done
    rm -rf "$work"
    if [ "$status" = 0 ]; then
        say "passed in $(($(date +%s) - e2e_start)) s"
    else
        say "failed (exit $status) after $(($(date +%s) - e2e_start)) s"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. The image -----------------------------------------------------------------------------
build_image() {
    scripts/build-image.sh
}

# --- 2. Up, and the time until every node is healthy -------------------------------------------
all_healthy() {
    local n
    for n in n1 n2 n3; do [ "$(health "$n" 2>/dev/null)" = healthy ] || return 1; done
}
peers_all_up() { [ "$(peer_state n1 n2)" = up ] && [ "$(peer_state n1 n3)" = up ]; }
bring_up() {
    local attempt start
    for attempt in 1 2 3; do
        pick_ports
        # From nothing: compose 1.29 cannot recreate containers on a current engine.
        compose down -v --remove-orphans -t 2 >/dev/null 2>&1
        start=$(now)
        compose up -d 2>"$work/up.err" && break
        cat "$work/up.err" >&2
        if [ "$attempt" = 3 ] || ! grep -q -e 'address already in use' -e 'port is already allocated' "$work/up.err"; then
            fail "docker-compose up failed (its output is above)"
        fi
        say "a port was taken between the check and up; trying other ports"
    done
    within 60 all_healthy >/dev/null || {
        compose ps
        compose logs --tail 20
        fail "the nodes were not all healthy within 60 s of up"
    }
    up_to_healthy=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    say "up to all 3 healthy: ${up_to_healthy} s (ports 127.0.0.1:$LAB_N1_PORT, $LAB_N2_PORT, $LAB_N3_PORT)"
    within 10 peers_all_up >/dev/null || fail "n1 does not see n2 and n3 by service name: n2 $(peer_state n1 n2), n3 $(peer_state n1 n3)"
    say "n1 reaches n2 and n3 by service name (GET /peers)"
}

# --- 3. Kill a node under load -----------------------------------------------------------------
# The kill under load is a scenario: the same file runs on local processes, and here on the
# image's containers (its own compose project, lab-scenario, on free ports). The harness applies
# the faults through harness::compose, measures availability per second with its checkers, and
# writes the report whose path it prints; it exits 1 if a check fails.
kill_under_load() {
    cargo lab scenario run node-lost --target compose --out "$work/node-lost" | tee "$work/node-lost.txt"
    kill_figures=$(grep -E '^  (ok|FAIL) +availability' "$work/node-lost.txt" | tr -s ' ' | head -1)
}

# --- 3b. Exercise 08's failover on containers ------------------------------------------------
# The primary SIGKILLed under writes, a backup promoted: the scenario's [cluster] args (W = 2,
# the detector's T) reach the containers as LAB_NODE_ARGS, docker-compose.yml makes them the
# nodes' command. Every acknowledged add must survive; exit 1 otherwise. (Its control, W = 1,
# runs in `cargo lab demo failover --target compose`: one more cluster, another 30 s.)
failover() {
    cargo lab scenario run failover --target compose --out "$work/failover" | tee "$work/failover.txt"
    grep -q 'primary-backup-solution --w 2 --tick-time-ms 2000' "$work/failover.txt" ||
        fail "the failover scenario did not say it started the nodes with its flags (--w 2 --tick-time-ms 2000)"
    failover_figures=$(grep -E 'writes unavailable after' "$work/failover.txt" | sed 's/^ *//' | head -1)
}

# --- 4. Isolate a node and heal it --------------------------------------------------------------
n1_sees_n3_down() { case "$(peer_state n1 n3)" in down*) return 0 ;; *) return 1 ;; esac }
n1_sees_n3_up() { [ "$(peer_state n1 n3)" = up ]; }
n3_answers() { curl -s -m 1 -o /dev/null "http://127.0.0.1:$LAB_N3_PORT/health"; }
n3_silent() { ! n3_answers; }
isolate_and_heal() {
    local net cid took
    net=$(network)
    cid=$(container_of n3)
    [ -n "$net" ] && [ -n "$cid" ] || fail "cannot find the network ($net) or n3's container ($cid) by label"
    docker network disconnect "$net" "$cid"
    say "isolated n3 (docker network disconnect $net <n3>)"
    took=$(within 5 n1_sees_n3_down) || fail "n1 still sees n3 $(peer_state n1 n3) 5 s after isolating it"
    say "n1 sees n3 down after ${took} s: $(peer_state n1 n3)"
    within 3 n3_silent >/dev/null || fail "n3's published port still answers while it is isolated"
    say "n3's published port is gone with it (clients cannot reach an isolated container either)"
    # The negative control: reconnected without its alias, n3 is on the network again but
    # only its container name resolves, so its peers, who know it as n3, keep seeing it down.
    docker network connect "$net" "$cid"
    if within 2 n1_sees_n3_up >/dev/null; then
        fail "n1 saw n3 up after a reconnect without --alias n3; this check no longer tells a heal from a broken one"
    fi
    say "reconnected without --alias: n1 still sees n3 $(peer_state n1 n3 | cut -d: -f1), the trap heal avoids"
    docker network disconnect "$net" "$cid"
    # The alias is what makes it "n3" again for its peers.
    docker network connect --alias n3 "$net" "$cid"
    took=$(within 15 n1_sees_n3_up) || fail "n1 still sees n3 as $(peer_state n1 n3) 15 s after healing it with its alias"
    say "healed n3 (docker network connect --alias n3): n1 reaches it by service name again after ${took} s"
    heal_seconds=$took
    within 5 n3_answers >/dev/null || fail "n3's published port does not answer after healing"
    [ "$(peer_state n2 n3)" = up ] || fail "n2 does not see n3 up after healing: $(peer_state n2 n3)"
}

# --- 5. The harness's ComposeCluster on the same image -----------------------------------------
harness_on_containers() {
    cargo run --quiet --locked -p harness --example compose_faults
}

stage "image (scripts/build-image.sh)" build_image
stage "up (project $project)" bring_up
stage "kill n2 under load (cargo lab scenario run node-lost --target compose)" kill_under_load
stage "failover: the primary killed under writes (cargo lab scenario run failover --target compose)" failover
stage "isolate n3 and heal it" isolate_and_heal
stage "harness::compose::ComposeCluster (cargo run -p harness --example compose_faults)" harness_on_containers
say "figures: image $(docker image inspect -f '{{.Size}}' "$LAB_IMAGE" | awk '{ printf "%.1f MB", $1 / 1e6 }'), up to healthy ${up_to_healthy} s, ${kill_figures}, failover ${failover_figures}, heal seen by a peer after ${heal_seconds} s"
