#!/usr/bin/env bash
# End to end on real containers: build the image, bring the compose cluster up, kill a node
# under load and measure availability, isolate a node and heal it, run the harness's
# ComposeCluster against the same image, and take everything down again.
#
#   scripts/compose-e2e.sh
#
# Skips (exit 0, with the reason) when this machine has no docker command, no compose command or
# no Docker engine that answers, so CI without Docker stays green. Fails (exit 1) on any failed
# check, and leaves no container, network or volume behind either way: the teardown runs on
# every exit and checks that nothing labelled with its project is left.
#
# It runs its own compose project (lab-e2e-<pid>) on free ports, so an instructor's cluster
# (project lab, ports 4001-4003) is never touched. Needs curl. About 60 s once the image's
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
command -v curl >/dev/null || skip "curl is not installed; the load loop needs it"

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
load_pids=()
# shellcheck disable=SC2086 # the id lists are meant to split into words
cleanup() {
    local status=$? left
    trap - EXIT
    touch "$work/stop"
    for pid in ${load_pids[@]+"${load_pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    echo "=== teardown"
    compose down -v --remove-orphans -t 2 >/dev/null 2>&1 || true
    # Anything compose did not know about (a container left by an interrupted step) goes too.
    left=$(docker ps -aq --filter "$label")
    [ -z "$left" ] || docker rm -f $left >/dev/null 2>&1 || true
    left=$(docker network ls -q --filter "$label")
    [ -z "$left" ] || docker network rm $left >/dev/null 2>&1 || true
    left=$(docker volume ls -q --filter "$label")
    [ -z "$left" ] || docker volume rm -f $left >/dev/null 2>&1 || true
    left="$(docker ps -aq --filter "$label") $(docker network ls -q --filter "$label") $(docker volume ls -q --filter "$label")"
    if [ -n "${left// /}" ]; then
        say "FAILED: project $project left behind: $left" >&2
        status=1
    else
        say "nothing of project $project is left (containers, networks, volumes)"
    fi
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
# The load: one loop per node sending GET /health about 15 times a second with a 1 s budget,
# each request logged as "<send time> <node> <HTTP code>" (000 when nothing came back). A
# request counts in the second it was sent, so an outage shows where it hurt.
#
# When `cargo lab scenario run` exists, this whole function becomes one line:
#   cargo lab scenario run <kill-under-load scenario file> --target compose --project "$project"
# (harness::compose::ComposeCluster applies the faults; the checkers measure the same figures).
load_loop() {
    local node=$1 port sent code
    port=$(port_of "$node")
    while [ ! -e "$work/stop" ]; do
        sent=$(now)
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
        echo "$sent $node $code"
        sleep 0.05
    done >"$work/load-$node.log"
}
kill_under_load() {
    local victim=n2 duration=14 kill_after=4 start_after=9 t0 n
    rm -f "$work/stop"
    t0=$(now)
    for n in n1 n2 n3; do
        load_loop "$n" &
        load_pids+=($!)
    done
    sleep "$kill_after"
    local killed_at started_at healthy_at
    compose kill "$victim" >/dev/null 2>&1
    killed_at=$(now) # dead by now: the command returns once the container has stopped
    say "killed $victim (docker-compose kill: SIGKILL)"
    sleep $((start_after - kill_after))
    started_at=$(now)
    compose start "$victim" >/dev/null 2>&1
    within 20 sh -c "[ \"\$(docker inspect -f '{{.State.Health.Status}}' $(container_of "$victim"))\" = healthy ]" >/dev/null ||
        fail "$victim was not healthy within 20 s of docker-compose start"
    healthy_at=$(now)
    say "started $victim again; healthy $(awk -v a="$started_at" -v b="$healthy_at" 'BEGIN { printf "%.1f", b - a }') s later"
    sleep "$(awk -v t0="$t0" -v now="$(now)" -v d="$duration" 'BEGIN { s = d - (now - t0); print (s > 0 ? s : 0) }')"
    touch "$work/stop"
    wait "${load_pids[@]}"
    load_pids=()

    # Per second of the run: requests sent, answered 200, the share, and the victim's own.
    cat "$work"/load-n*.log | sort -n | awk -v t0="$t0" -v victim="$victim" \
        -v killed="$killed_at" -v started="$started_at" -v healthy="$healthy_at" '
        {
            s = int($1 - t0); ok = ($3 == "200")
            sent[s]++; good[s] += ok
            if ($2 == victim) { vsent[s]++; vgood[s] += ok }
            else { ssent++; sgood += ok }
            if (s > last) last = s
            # The gap: the longest time between two answers from the victim.
            if ($2 == victim && ok) {
                if (vprev && $1 - vprev > gap) gap = $1 - vprev
                vprev = $1
                if ($1 > started && !vback) vback = $1
            }
        }
        END {
            printf "  second  sent    ok  share   %s ok/sent\n", victim
            worst = 1
            for (s = 0; s <= last; s++) {
                share = sent[s] ? good[s] / sent[s] : 0
                if (share < worst) { worst = share; wsec = s }
                mark = ""
                if (killed - t0 >= s && killed - t0 < s + 1) mark = "  <- kill " victim
                if (started - t0 >= s && started - t0 < s + 1) mark = "  <- start " victim
                printf "  %6d  %4d  %4d  %5.2f   %d/%d%s\n", s, sent[s], good[s], share, vgood[s], vsent[s], mark
            }
            printf "RESULT %.2f %d %d %d %.2f %.2f %.2f\n", \
                worst, wsec, sgood, ssent, gap, (vback ? vback - started : -1), (sent[0] ? good[0] / sent[0] : 0)
        }' >"$work/kill.txt"
    grep -v '^RESULT' "$work/kill.txt"
    local worst_share worst_second survivors_ok survivors_sent gap back_after_start first_second
    read -r worst_share worst_second survivors_ok survivors_sent gap back_after_start first_second \
        < <(sed -n 's/^RESULT //p' "$work/kill.txt")
    local survivors
    survivors=$(awk -v o="$survivors_ok" -v s="$survivors_sent" 'BEGIN { printf "%.1f", s ? 100 * o / s : 0 }')
    say "availability: worst second $worst_share (second $worst_second); survivors n1, n3: $survivors% of $survivors_sent requests OK"
    say "$victim gap: $gap s without an answer to its clients; it answered ${back_after_start} s after docker-compose start"
    kill_figures="worst second ${worst_share}, survivors ${survivors}% of ${survivors_sent}, ${victim} gap ${gap} s"

    # The checks: the healthy path first, then what the fault may and may not do.
    awk -v v="$first_second" 'BEGIN { exit !(v == 1) }' || fail "before any fault, not every request succeeded (first second: $first_second)"
    awk -v o="$survivors_ok" -v s="$survivors_sent" 'BEGIN { exit !(s > 0 && o / s >= 0.99) }' ||
        fail "killing $victim hurt the other nodes: only $survivors% of their requests succeeded (want at least 99%)"
    awk -v w="$worst_share" 'BEGIN { exit !(w >= 0.5) }' || fail "worst second $worst_share: with one node of three down, at least half the requests should succeed"
    awk -v b="$back_after_start" 'BEGIN { exit !(b >= 0) }' || fail "$victim never answered again after docker-compose start"
    awk -v b="$back_after_start" 'BEGIN { exit !(b < 10) }' || fail "$victim took $back_after_start s after docker-compose start to answer (want under 10 s)"
    awk -v g="$gap" -v k="$kill_after" -v s="$start_after" 'BEGIN { exit !(g >= s - k) }' ||
        fail "$victim's gap ($gap s) is shorter than the time it was down: was it really killed?"
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
    cargo test --quiet --locked -p harness --lib compose -- --ignored
}

stage "image (scripts/build-image.sh)" build_image
stage "up (project $project)" bring_up
stage "kill n2 under load" kill_under_load
stage "isolate n3 and heal it" isolate_and_heal
stage "harness::compose::ComposeCluster (cargo test -p harness --lib compose -- --ignored)" harness_on_containers
say "figures: image $(docker image inspect -f '{{.Size}}' "$LAB_IMAGE" | awk '{ printf "%.1f MB", $1 / 1e6 }'), up to healthy ${up_to_healthy} s, ${kill_figures}, heal seen by a peer after ${heal_seconds} s"
