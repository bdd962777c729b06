#!/usr/bin/env bash
# Builds the lab's node image without a registry, for docker-compose.yml.
#
#   scripts/build-image.sh                          # every node binary of the workspace
#   LAB_NODES="test-node remote-calls-solution" scripts/build-image.sh
#
# The node binaries are built on this machine, statically linked (`+crt-static` with an explicit
# --target, so build scripts and proc macros stay dynamic), and copied into an image FROM
# scratch (scripts/Dockerfile): nothing is pulled, nothing is pushed. The script then checks the
# image: every binary starts in it, and a node finds another by its network alias (the check
# that a static glibc binary can resolve names there). Last it prints the image, its size and
# its nodes.
#
# Environment:
#   LAB_IMAGE          image to tag (default lab-node:latest); docker-compose.yml reads it too
#   LAB_NODES          node binaries to put in, by binary name (default: the harness's test-node
#                      plus every binary of the packages under solutions/)
#   LAB_BUILDER_IMAGE  a local Linux image with Rust (e.g. rust:1-bookworm) to build the binaries
#                      in where this machine cannot (macOS, or Linux with glibc older than 2.34)
#
# Binaries go to target/static (not target/): other RUSTFLAGS there would make every other
# build in the workspace start over. The image's context is staged in target/image/context.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${LAB_IMAGE:-lab-node:latest}
target_dir=target/static
context=target/image/context

say() { echo "build-image: $*" >&2; }
die() {
    echo "build-image: $*" >&2
    exit 1
}

# The node binaries of the workspace, by name: the harness's test node (always: it is the
# image's default entrypoint) and, for every package under solutions/, the binaries Cargo would
# find (src/main.rs, src/bin/*.rs, src/bin/*/main.rs, [[bin]] names).
discover_nodes() {
    echo test-node
    local manifest dir pkg f
    find solutions -name Cargo.toml -not -path '*/target/*' 2>/dev/null | sort |
        while IFS= read -r manifest; do
            dir=$(dirname "$manifest")
            pkg=$(awk '/^\[/ { p = ($0 == "[package]") } p && /^name *=/ { gsub(/^[^"]*"|".*$/, ""); print; exit }' "$manifest")
            [ -f "$dir/src/main.rs" ] && echo "$pkg"
            for f in "$dir"/src/bin/*.rs; do [ -e "$f" ] && basename "$f" .rs; done
            for f in "$dir"/src/bin/*/main.rs; do [ -e "$f" ] && basename "$(dirname "$f")"; done
            awk '/^\[\[bin\]\]/ { b = 1; next } /^\[/ { b = 0 } b && /^name *=/ { gsub(/^[^"]*"|".*$/, ""); print }' "$manifest"
        done | awk '!seen[$0]++'
}

# Why this machine cannot build the static Linux binaries itself, or nothing if it can.
cannot_build_here() {
    case "$(uname -s)" in
    Linux) ;;
    Darwin)
        echo "macOS builds macOS binaries, and the image needs Linux ones"
        return
        ;;
    *)
        echo "$(uname -s) is not Linux; the image needs Linux binaries"
        return
        ;;
    esac
    local triple glibc
    triple=$(rustc -vV | sed -n 's/^host: //p')
    case "$triple" in
    *-linux-gnu*)
        # A static glibc older than 2.34 looks names up by dlopen()ing libnss_*.so, which a
        # scratch image does not have: the nodes could not find their peers.
        glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
        if [ -n "$glibc" ] && [ "$(printf '%s\n' 2.34 "$glibc" | sort -V | head -n1)" != 2.34 ]; then
            echo "glibc $glibc here is older than 2.34, so a static binary cannot resolve peer names in a scratch image"
        fi
        ;;
    esac
}

# Builds the binaries for this machine's own Linux target and stages the image's context.
build_binaries() {
    local triple nodes=("$@") args=() n
    triple=$(rustc -vV | sed -n 's/^host: //p')
    for n in "${nodes[@]}"; do args+=(--bin "$n"); done
    say "building ${nodes[*]} for $triple, statically linked (release) in $target_dir"
    # --workspace with --bin builds exactly the named binaries, whichever package holds them.
    # Symbols are stripped for a small image; a panic still prints its message and location.
    RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
        cargo build --release --locked --target "$triple" --target-dir "$target_dir" \
        --workspace "${args[@]}"

    rm -rf "$context"
    mkdir -p "$context/bin" "$context/etc" "$context/data"
    printf 'hosts: files dns\n' >"$context/etc/nsswitch.conf"
    for n in "${nodes[@]}"; do
        cp "$target_dir/$triple/release/$n" "$context/bin/$n"
    done
}

# The same build inside a Linux container, for machines that cannot build it themselves.
build_in_container() {
    local why=$1
    shift
    local builder=${LAB_BUILDER_IMAGE:-}
    if [ -z "$builder" ]; then
        die "$why. Build inside a Linux container instead: docker pull rust:1-bookworm (once, with a registry), then LAB_BUILDER_IMAGE=rust:1-bookworm scripts/build-image.sh"
    fi
    docker image inspect "$builder" >/dev/null 2>&1 ||
        die "LAB_BUILDER_IMAGE=$builder is not on this machine; this script never pulls: docker pull $builder first (needs a registry)"
    say "$why: building the binaries inside $builder"
    # The crates are downloaded once into a named volume (the container's own ~/.cargo), and the
    # build's files are handed back to this machine's user at the end.
    docker run --rm -v "$PWD:/src" -w /src -v lab-cargo-registry:/usr/local/cargo/registry \
        -e LAB_NODES="$*" -e HOST_OWNER="$(id -u):$(id -g)" "$builder" \
        sh -c 'scripts/build-image.sh --binaries-only; s=$?; chown -R "$HOST_OWNER" target/static target/image; exit $s'
}

# Containers and the network of the image check, removed on every exit.
check_label="lab.build-check=$$"
# shellcheck disable=SC2086 # the id lists are meant to split into words
cleanup() {
    local ids
    ids=$(docker ps -aq --filter "label=$check_label" 2>/dev/null || true)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    ids=$(docker network ls -q --filter "label=$check_label" 2>/dev/null || true)
    [ -n "$ids" ] && docker network rm $ids >/dev/null 2>&1
    return 0
}

# Every binary starts in the scratch image (a dynamically linked one would fail here with
# "no such file or directory": its loader is missing), and a node answers a healthcheck made
# by its network alias, which is how peers find each other under compose.
check_image() {
    local n out net=lab-build-check-$$ cid
    for n in "$@"; do
        out=$(docker run --rm --label "$check_label" --entrypoint "/bin/$n" "$image" --version 2>&1) ||
            die "/bin/$n does not run in $image ($out); is it statically linked?"
    done
    docker network create --label "$check_label" "$net" >/dev/null
    cid=$(docker run -d --label "$check_label" --network "$net" --network-alias peer \
        -e NODE_ID=peer -e NODE_LISTEN=0.0.0.0:4000 -e NODE_COOKIE=build-check "$image")
    for _ in $(seq 50); do
        if docker exec "$cid" /bin/test-node healthcheck peer:4000 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    out=$(docker exec "$cid" /bin/test-node healthcheck peer:4000 2>&1 || true)
    die "in $image a node cannot reach another by its network alias: $out. Static glibc needs 2.34 or later to resolve names without libnss_*.so; build with LAB_BUILDER_IMAGE (see the top of this script)"
}

main() {
    local nodes n
    if [ -n "${LAB_NODES:-}" ]; then
        read -r -a nodes <<<"$LAB_NODES"
        case " ${nodes[*]} " in
        *" test-node "*) ;;
        *) nodes=(test-node "${nodes[@]}") ;; # the image's default entrypoint
        esac
    else
        nodes=()
        while IFS= read -r n; do nodes+=("$n"); done < <(discover_nodes)
    fi

    if [ "${1:-}" = --binaries-only ]; then
        build_binaries "${nodes[@]}"
        return
    fi

    command -v docker >/dev/null || die "no docker command on this machine; install Docker (Engine 20.10 or later) first"
    docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed): start it, or join the docker group"

    local why
    why=$(cannot_build_here)
    if [ -n "$why" ]; then
        build_in_container "$why" "${nodes[@]}"
    else
        build_binaries "${nodes[@]}"
    fi

    trap cleanup EXIT
    local old new
    old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    say "building $image FROM scratch (nothing is pulled)"
    new=$(docker build -q -f scripts/Dockerfile -t "$image" \
        --label "lab.nodes=${nodes[*]}" \
        --label "lab.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$context" 2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^ *$' >&2))
    # The image this tag named before is now nameless; remove it so rebuilds do not pile up.
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
    say "checking the image: every binary starts, names resolve"
    check_image "${nodes[@]}"

    local bytes
    bytes=$(docker image inspect -f '{{.Size}}' "$image")
    echo "$image  $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')  nodes: ${nodes[*]}"
    echo "next: docker-compose -p lab up -d   (scripts/README.md: choose the node, the demo, tear down)"
}

main "$@"
