#!/usr/bin/env bash
# The decks present: every slides/NN-name.md loads in presenterm and fits a 120x35 terminal
# (a 1080p projector at a font the back row reads).
#
#   scripts/check-decks.sh                      every deck in slides/
#   scripts/check-decks.sh DECK...              these decks
#   scripts/check-decks.sh --capture DIR        also write every slide as the terminal shows
#                                               it, DIR/<deck>/NN.txt: read them
#   scripts/check-decks.sh --self-test          the check bites: the bad decks in
#                                               scripts/testdata/decks/ fail, saying why
#   scripts/check-decks.sh --export DIR         the attendee handouts: every deck as one
#                                               HTML page, DIR/<deck>.html, and DIR/index.html
#
# Two checks per deck:
# 1. presenterm itself, run with --validate-overflows inside a detached tmux session of exactly
#    120x35 (presenterm needs a terminal; tmux gives one to CI): the deck loads (its front
#    matter, its comment commands) and no slide overflows. presenterm shows its verdict on
#    screen and exits 0 either way, so the pane is what is read.
# 2. The same widths measured from the Markdown, so that every offending line is named, not
#    only presenterm's first slide, and what presenterm 0.16.1 lets through without a word is
#    caught: it wraps a table row wider than the text column into a mess, and a code line that
#    fits the block but not its padding. presenterm's rules at 120 columns: a table row and a
#    list item (its text, on one line) hold TEXT_WIDTH, a code line CODE_WIDTH; paragraphs wrap.
#    The self-test checks each number against what presenterm does.
#
# Installs the pinned presenterm with `cargo install --locked` when it is missing (about 6
# minutes on 2 cores; ~/.cargo/bin keeps it) and tmux with apt-get when missing. Runs presenterm
# with an empty config file, so a personal theme cannot change the verdict. Exits 1 naming the
# deck, the slide (presenterm's number, its title and line) and presenterm's message.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec </dev/null
export LC_ALL=C.UTF-8 # ${#line} counts characters, not bytes

PRESENTERM_VERSION=0.16.1
COLUMNS_=120
ROWS_=35
# presenterm's default theme at 120 columns: an 8% margin each side leaves 100 columns of text;
# a code block keeps another 8% of those each side (84) and pads its text by 2 each side (80).
TEXT_WIDTH=100
CODE_WIDTH=80
FIXTURES=scripts/testdata/decks

fail() {
    echo "check-decks: $*" >&2
    exit 1
}

# --- Tools -------------------------------------------------------------------------------

need_tmux() {
    command -v tmux >/dev/null && return
    command -v apt-get >/dev/null || fail "tmux is missing: install it (brew install tmux, ...)"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    echo "check-decks: tmux is missing; installing it with apt-get"
    if ! { "${sudo[@]}" apt-get update -qq >/dev/null && "${sudo[@]}" apt-get install -y -qq tmux >/dev/null; }; then
        fail "could not install tmux with apt-get: install it and rerun"
    fi
}

# Sets `presenterm` to the pinned binary, installing it when it is missing or another version.
need_presenterm() {
    presenterm=${PRESENTERM:-}
    [ -n "$presenterm" ] && return
    local bin=${CARGO_HOME:-$HOME/.cargo}/bin/presenterm
    for candidate in "$(command -v presenterm || true)" "$bin"; do
        if [ -x "$candidate" ] && [ "$("$candidate" --version 2>/dev/null)" = "presenterm $PRESENTERM_VERSION" ]; then
            presenterm=$candidate
            return
        fi
    done
    command -v cargo >/dev/null || fail "presenterm $PRESENTERM_VERSION is missing, and so is cargo"
    echo "check-decks: installing presenterm $PRESENTERM_VERSION (cargo install --locked; about 6 min on 2 cores)"
    local start
    start=$(date +%s)
    # Its own temporary target directory: a workspace CARGO_TARGET_DIR would keep the build.
    env -u CARGO_TARGET_DIR cargo install --quiet --locked presenterm --version "$PRESENTERM_VERSION" ||
        fail "cargo install presenterm $PRESENTERM_VERSION failed"
    echo "check-decks: presenterm installed in $(($(date +%s) - start)) s"
    presenterm=$bin
}

# --- Reading a deck ----------------------------------------------------------------------

# What scan_deck learns of a deck: whether its front matter makes a title slide (presenterm's
# slide 1), each slide's title, title line and first line, and its lines too wide.
titled=0
slide_titles=()
slide_title_lines=()
slide_lines=()
width_problems=()

# A table cell as presenterm prints it: no Markdown marks, a link followed by its address.
plain_cell() {
    local s=$1
    s=${s//\\|/|}
    while [[ $s =~ ^(.*)\[([^]]*)\]\(([^\)]*)\)(.*)$ ]]; do
        s="${BASH_REMATCH[1]}${BASH_REMATCH[2]} (${BASH_REMATCH[3]})${BASH_REMATCH[4]}"
    done
    s=${s//\`/}
    s=${s//\*/}
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf '%s' "$s"
}

# The slide (presenterm's number) that a deck line is on, with its title.
slide_at() {
    local line=$1 k=${#slide_lines[@]}
    while [ "$k" -gt 1 ] && [ "${slide_lines[k - 1]}" -gt "$line" ]; do k=$((k - 1)); done
    echo "slide $((k + titled)) (\"${slide_titles[k - 1]}\")"
}

# Table rows so far: "line<TAB>text".
table=()
flush_table() {
    [ ${#table[@]} -gt 0 ] || return 0
    local widths=() row no text cells c w total first=""
    for row in "${table[@]}"; do
        no=${row%%$'\t'*}
        text=${row#*$'\t'}
        [ -n "$first" ] || first=$no
        [[ $text =~ ^[[:space:]]*\|?[[:space:]:|-]+$ ]] && continue # the | --- | row
        text=${text#*|}
        text=${text%|*}
        text=${text//\\|/$'\x01'}
        IFS='|' read -r -a cells <<<"$text"
        for c in "${!cells[@]}"; do
            w=$(plain_cell "${cells[c]//$'\x01'/|}")
            w=${#w}
            [ "${widths[c]:-0}" -ge "$w" ] || widths[c]=$w
        done
    done
    total=$((3 * (${#widths[@]} - 1)))
    for w in "${widths[@]}"; do total=$((total + w)); done
    if [ "$total" -gt "$TEXT_WIDTH" ]; then
        width_problems+=("$first: $(slide_at "$first"): a table $total columns wide (columns of ${widths[*]}, 3 between each); presenterm wraps rows wider than $TEXT_WIDTH into a mess, without a word: shorten cells, drop a column, or split the table")
    fi
    table=()
}

# The list item so far (its text on one line) and its first line.
item=""
item_line=0
flush_item() {
    [ -n "$item" ] || return 0
    local text
    text=$(plain_cell "$item")
    if [ ${#text} -gt "$TEXT_WIDTH" ]; then
        width_problems+=("$item_line: $(slide_at "$item_line"): a list item ${#text} characters long; presenterm takes one longer than $TEXT_WIDTH for an overflow (it would wrap it fine): shorten it, split it, or make it a paragraph")
    fi
    item=""
}

# Reads a deck's slides (titles, first lines) and measures its tables, list items and code lines.
scan_deck() {
    local deck=$1 no=0 line prev="" fence="" comment=0 front=0 k=0
    titled=0
    slide_titles=("")
    slide_title_lines=(1)
    slide_lines=(1)
    width_problems=()
    table=()
    item=""
    while IFS= read -r line || [ -n "$line" ]; do
        no=$((no + 1))
        if [ "$no" = 1 ] && [ "$line" = "---" ]; then
            front=1
            continue
        fi
        if [ "$front" = 1 ]; then
            if [ "$line" = "---" ]; then
                front=0
                slide_lines[0]=$((no + 1))
                slide_title_lines[0]=$((no + 1))
            elif [[ $line =~ ^title: ]]; then
                titled=1
            fi
            continue
        fi
        if [ -n "$fence" ]; then
            local trimmed=${line//[[:space:]]/}
            if [ ${#trimmed} -ge ${#fence} ] && [ -z "${trimmed//${fence:0:1}/}" ]; then
                fence=""
            elif [ ${#line} -gt "$CODE_WIDTH" ]; then
                width_problems+=("$no: $(slide_at "$no"): a code line ${#line} columns wide; a code block holds $CODE_WIDTH (presenterm reports only lines past $((CODE_WIDTH + 4)), and wraps the rest): break the line")
            fi
            continue
        fi
        if [ "$comment" = 1 ]; then
            [[ $line == *"-->"* ]] && comment=0
            continue
        fi
        if [[ $line =~ ^\ {0,3}(\`\`\`+|~~~+) ]]; then
            flush_table
            flush_item
            fence=${BASH_REMATCH[1]}
            continue
        fi
        if [[ $line =~ ^[[:space:]]*\<!--[[:space:]]*end_slide[[:space:]]*--\>[[:space:]]*$ ]]; then
            flush_table
            flush_item
            k=$((k + 1))
            slide_titles[k]=""
            slide_title_lines[k]=$((no + 1))
            slide_lines[k]=$((no + 1))
            continue
        fi
        if [[ $line == *"<!--"* && $line != *"-->"* ]]; then
            flush_item
            comment=1
            continue
        fi
        if [[ $line =~ ^[[:space:]]*([-*+]|[0-9]+[.\)])[[:space:]]+(.*)$ ]]; then
            flush_item
            item=${BASH_REMATCH[2]}
            item_line=$no
        elif [ -n "$item" ] && [[ $line =~ ^[[:space:]]*([^[:space:]].*)$ ]] && [[ $line != *"<!--"* ]]; then
            item="$item ${BASH_REMATCH[1]}"
        else
            flush_item
        fi
        if [ -z "${slide_titles[k]}" ]; then
            if [[ $line =~ ^===+[[:space:]]*$ ]]; then
                slide_titles[k]=$prev
                slide_title_lines[k]=$((no - 1))
            elif [[ $line =~ ^#+[[:space:]]+(.*)$ ]]; then
                slide_titles[k]=${BASH_REMATCH[1]}
                slide_title_lines[k]=$no
            fi
        fi
        if [[ $line =~ ^[[:space:]]*\| ]]; then
            table+=("$no"$'\t'"$line")
        else
            flush_table
        fi
        prev=$line
    done <"$deck"
    flush_table
    flush_item
}

# --- Presenting a deck -------------------------------------------------------------------

# Our own tmux server, on a socket in our own directory: an instructor's tmux is never touched,
# and nothing is left behind. presenterm runs at most 10 minutes, should this script be killed.
work=$(mktemp -d)
config=$work/config.yaml
capture_dir=""
tm() { tmux -S "$work/tmux" "$@"; }
cleanup() {
    tm kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
echo '{}' >"$config"
limit=()
if command -v timeout >/dev/null; then limit=(timeout --foreground 600); fi

# The pane, without trailing blank lines.
pane() { tm capture-pane -p -t "$1" | sed -e :a -e '/^[[:space:]]*$/{$d;N;ba' -e '}'; }

# Waits until the pane is drawn and still, then prints it. Returns 1 if it shows an error, 0
# if its last line matches `footer` (a regex; "" for any screen), 2 if neither within SETTLE
# seconds (30).
await() {
    local session=$1 footer=$2 text last="" deadline=$((SECONDS + ${SETTLE:-30}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
        text=$(pane "$session")
        if [ -z "$text" ] || [ "$text" != "$last" ]; then
            last=$text
            continue
        fi
        if [[ $text == *"Error loading presentation"* || $text == *"(presenterm exited"* ]]; then
            printf '%s\n' "$text"
            return 1
        fi
        if [ -z "$footer" ] || [[ $(tail -n 1 <<<"$text") =~ ^[[:space:]]*${footer}[[:space:]]*$ ]]; then
            printf '%s\n' "$text"
            return 0
        fi
    done
    printf '%s\n' "$text"
    return 2
}

# Sends presenterm `keys` until it shows a slide whose footer matches `footer`: a key pressed
# while it is still starting may be lost, so `keys` must be safe to repeat ("G", "3G").
go() {
    local session=$1 keys=$2 footer=$3 text status
    for _ in 1 2 3 4 5; do
        tm send-keys -t "$session" "$keys"
        status=0
        text=$(SETTLE=3 await "$session" "$footer") || status=$?
        [ "$status" = 2 ] || break
    done
    printf '%s\n' "$text"
    return "$status"
}

# Checks one deck; prints "ok: ..." or its problems and returns 1.
check_deck() {
    local deck=$1 session text status size total="?" problems=()
    [ -f "$deck" ] || fail "$deck: no such deck"
    scan_deck "$deck"
    for p in "${width_problems[@]+"${width_problems[@]}"}"; do problems+=("$deck:$p"); done

    session=s$((++sessions))
    tm -f /dev/null new-session -d -s "$session" -x "$COLUMNS_" -y "$ROWS_" \
        "$(printf '%q ' "${limit[@]+"${limit[@]}"}" "$presenterm" --config-file "$config" --validate-overflows "$deck"); echo \"(presenterm exited: \$?)\"; sleep 60"
    size=$(tm display-message -p -t "$session" '#{window_width}x#{window_height}')
    [ "$size" = "${COLUMNS_}x${ROWS_}" ] || fail "tmux gave a ${size} terminal, not ${COLUMNS_}x${ROWS_}"
    # presenterm validates every slide before it shows the first: a first screen that is not
    # an error means the deck loaded and fits. The last slide's footer ("N / N") counts them.
    status=0
    text=$(await "$session" "") || status=$?
    if [ "$status" = 0 ]; then
        if [ -n "$capture_dir" ]; then
            text=$(capture "$deck" "$session" "$text") || status=2
        else
            text=$(go "$session" G '([0-9]+) / \1') || status=2 # the last slide
        fi
    fi
    case $status in
    0)
        total=$(tail -n 1 <<<"$text" | tr -dc '0-9/' | cut -d/ -f2)
        local expected=$((${#slide_lines[@]} + titled))
        if [ "$total" != "$expected" ]; then
            problems+=("$deck: presenterm sees $total slides, the deck has $expected (${#slide_lines[@]} separated by <!-- end_slide -->$([ "$titled" = 1 ] && echo ", and the title slide"))")
        fi
        ;;
    1)
        # The message, on one line: what follows "Error loading presentation:".
        local message slide
        message=$(sed -n '/Error loading presentation/,$p' <<<"$text" | sed -e '1s/.*Error loading presentation:\{0,1\}//' -e 's/^[[:space:]]*//' | tr -s '\n' ' ')
        message=${message# }
        message=${message% }
        [ -n "$message" ] || message=$(tr -s ' \n' ' ' <<<"$text")
        if [[ $message =~ on\ slide\ ([0-9]+) ]]; then
            slide=${BASH_REMATCH[1]}
            if [ "$slide" -le "$titled" ]; then
                slide="slide $slide (the title slide, from the front matter)"
            else
                local k=$((slide - titled - 1))
                slide="slide $slide (\"${slide_titles[k]:-?}\", line ${slide_title_lines[k]:-?})"
            fi
            problems+=("$deck: $slide: presenterm at ${COLUMNS_}x${ROWS_}: $message")
        else
            problems+=("$deck: does not load in presenterm: $message")
        fi
        ;;
    *)
        problems+=("$deck: presenterm did not show what was expected within 30 s; the terminal showed:" "$text")
        ;;
    esac
    tm kill-session -t "$session" 2>/dev/null || true
    if [ ${#problems[@]} -gt 0 ]; then
        printf 'FAILED: %s\n' "${problems[@]}"
        return 1
    fi
    echo "ok: $deck: $total slides load and fit ${COLUMNS_}x${ROWS_} in presenterm $PRESENTERM_VERSION"
}

# Writes every slide as the terminal shows it, DIR/<deck>/NN.txt, from the first (on screen,
# `text`) to the last; prints the last.
capture() {
    local deck=$1 session=$2 text=$3 dir n=1 total=
    dir=$capture_dir/$(basename "$deck" .md)
    mkdir -p "$dir"
    while :; do
        printf '%s\n' "$text" >"$dir/$(printf %02d "$n").txt"
        # The title slide has no footer; every other slide says "n / total".
        [[ $(tail -n 1 <<<"$text") =~ ([0-9]+)\ /\ ([0-9]+)[[:space:]]*$ ]] && total=${BASH_REMATCH[2]}
        [ "$n" = "$total" ] && break
        n=$((n + 1))
        text=$(go "$session" "${n}G" "$n / [0-9]+") || {
            printf '%s\n' "$text"
            return 1
        }
    done
    echo "captured: $dir/01.txt to $(printf %02d "$n").txt" >&2
    printf '%s\n' "$text"
}

# --- Handouts ----------------------------------------------------------------------------

# Every deck as HTML, for attendees without presenterm. presenterm's export renders each slide
# at the size given in its config: the same 120x35 the check holds the decks to. It needs no
# terminal once the size is set, so no tmux here.
export_decks() {
    local dir=$1 deck name out
    mkdir -p "$dir"
    local export_config=$work/export.yaml
    printf 'export:\n  dimensions:\n    columns: %s\n    rows: %s\n' "$COLUMNS_" "$ROWS_" >"$export_config"
    local index="<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Slides</title></head><body><h1>The lab's slides</h1><ul>"
    for deck in "${decks[@]}"; do
        name=$(basename "$deck" .md)
        out=$dir/$name.html
        if ! "${limit[@]+"${limit[@]}"}" "$presenterm" --config-file "$export_config" --export-html \
            --export-temporary-path "$work" -o "$out" "$deck" >"$work/export.log" 2>&1 || [ ! -s "$out" ]; then
            tr -d '\033' <"$work/export.log" | tail -5 >&2
            fail "$deck: presenterm could not export it to HTML"
        fi
        echo "exported: $deck -> $out ($(wc -c <"$out") bytes)"
        index+="<li><a href=\"$name.html\">$name</a></li>"
    done
    printf '%s</ul></body></html>\n' "$index" >"$dir/index.html"
    echo "handouts: $dir/index.html"
}

# --- The check bites ---------------------------------------------------------------------

self_test() {
    local failures=0 out status dir
    dir=$(mktemp -d)
    # Runs the check on one fixture; `pass` or `fail`, then what its output must say.
    expect() {
        local outcome=$1 fixture=$FIXTURES/$2 says
        shift 2
        status=0
        out=$(PRESENTERM=$presenterm "$root/scripts/check-decks.sh" --capture "$dir" "$fixture" 2>&1) || status=$?
        local ok=1
        { [ "$outcome" = pass ] && [ "$status" = 0 ]; } || { [ "$outcome" = fail ] && [ "$status" = 1 ]; } || ok=0
        for says in "$@"; do [[ $out == *"$says"* ]] || ok=0; done
        if [ "$ok" = 1 ]; then
            echo "self-test ok: $fixture ${outcome/%s/se}s, saying: $*"
        else
            echo "SELF-TEST FAILED: $fixture should $outcome (exit $status), saying: $*; it said:"
            printf '  %s\n' "$out"
            failures=$((failures + 1))
        fi
    }
    # Lines as the terminal showed them: `fits` if one pane line holds the whole marked line.
    expect_rendered() {
        local fixture=$1 slide=$2 marker=$3 outcome=$4 file shown=wraps
        file=$dir/$fixture/$slide.txt
        [ -f "$file" ] || shown="showed no slide $slide"
        grep -q "start-of-$marker.*end-of-$marker" "$file" 2>/dev/null && shown=fits
        if [ "$shown" = "$outcome" ]; then
            echo "self-test ok: presenterm $outcome the $marker of $fixture.md on slide $slide"
        else
            echo "SELF-TEST FAILED: presenterm should show the $marker of $fixture.md whole ($outcome); it $shown:"
            cat "$file" 2>/dev/null || echo "  (no capture $file)"
            failures=$((failures + 1))
        fi
    }
    expect pass good.md "ok: $FIXTURES/good.md: 3 slides"
    expect fail bad-frontmatter.md "$FIXTURES/bad-frontmatter.md: does not load in presenterm" \
        "error in frontmatter" "invalid markdown line"
    expect fail wide-table.md "$FIXTURES/wide-table.md:9: slide 2 (\"A wide table\")" \
        "a table 101 columns wide"
    expect fail long-code.md "$FIXTURES/long-code.md: slide 2 (\"A long line\", line 5)" \
        "presentation overflows horizontally on slide 2" "long-code.md:11: slide 2 (\"A long line\"): a code line 99 columns wide"
    expect fail code-in-padding.md "$FIXTURES/code-in-padding.md:9: slide 2 (\"Into the padding\"): a code line 81 columns wide"
    expect fail long-item.md "$FIXTURES/long-item.md:8: slide 2 (\"A long list item\"): a list item 101 characters long" \
        "$FIXTURES/long-item.md: slide 2 (\"A long list item\", line 5): presenterm at 120x35: presentation overflows horizontally"
    expect fail tall.md "$FIXTURES/tall.md: slide 1 (\"Too tall\", line 1)" \
        "presentation overflows vertically on slide 1"
    # The widths are presenterm's: exactly TEXT_WIDTH and CODE_WIDTH show whole, one more wraps
    # (a list item: good.md holds one of TEXT_WIDTH, and presenterm refuses long-item.md's).
    expect_rendered good 02 row fits
    expect_rendered good 03 code fits
    expect_rendered wide-table 02 row wraps
    expect_rendered code-in-padding 02 code wraps
    rm -rf "$dir"
    [ "$failures" = 0 ] || fail "self-test: $failures case(s) failed"
    echo "self-test passed: the check fails the bad decks, and its widths are presenterm's"
}

# --- Main --------------------------------------------------------------------------------

decks=()
mode=check
while [ $# -gt 0 ]; do
    case $1 in
    --self-test) mode=self-test ;;
    --capture)
        [ $# -ge 2 ] || fail "--capture needs a directory"
        capture_dir=$2
        shift
        ;;
    --export)
        [ $# -ge 2 ] || fail "--export needs a directory (the README's: target/handouts)"
        export_dir=$2
        mode="export"
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) decks+=("$1") ;;
    esac
    shift
done

need_tmux
need_presenterm
sessions=0
# Decks named on the command line are relative to where it was typed; the others to the root.
if [ "$mode" = self-test ]; then
    cd "$root"
    self_test
    exit 0
fi
if [ ${#decks[@]} = 0 ]; then
    cd "$root"
    decks=(slides/[0-9][0-9]-*.md)
fi
if [ "$mode" = "export" ]; then
    export_decks "$export_dir"
    exit 0
fi
failed=0
for deck in "${decks[@]}"; do
    check_deck "$deck" || failed=$((failed + 1))
done
[ "$failed" = 0 ] || fail "$failed of ${#decks[@]} deck(s) do not present; each FAILED line says where"
