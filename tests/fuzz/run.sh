#!/usr/bin/env bash
# Fuzzes mapped_log's recovery and readers with libFuzzer under ASan + UBSan
# (tracker issue 4): tests/fuzz/segment_fuzz.cpp feeds arbitrary bytes as a
# segment to detail::scan_segment and to a real log opened (and so recovered)
# with stream<mapped_log<T>>::open. Any crash, sanitizer report, unexpected
# exception, broken invariant or hang fails; the reproducer's path is printed.
#
#   bash tests/fuzz/run.sh                          # build, then fuzz 60 s
#   OMSTREAM_FUZZ_SECONDS=600 bash tests/fuzz/run.sh
#   bash tests/fuzz/run.sh build                    # only build
#   build-fuzz/segment_fuzz FILE...                 # replay inputs
#   OMSTREAM_FUZZ_SKIP=name,... bash ...            # tolerate named known bugs (none open)
#                                                   # (tests/fuzz/crashes/README.md)
#
# Needs clang-19 and libclang-rt-19-dev (Debian 12 bookworm main; clang 14
# cannot compile libstdc++ 12's <ranges>): installed with apt-get if missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

FUZZ_SECONDS=${OMSTREAM_FUZZ_SECONDS:-60}
BUILD_DIR=${OMSTREAM_FUZZ_BUILD_DIR:-build-fuzz}
CXX_FUZZ=${OMSTREAM_FUZZ_CXX:-clang++-19}
PACKAGES=(clang-19 libclang-rt-19-dev)
BIN=$BUILD_DIR/segment_fuzz

install_deps() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    echo "fuzz: installing ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
    if [[ $CXX_FUZZ == clang++-19 ]]; then
        install_deps
    fi
    mkdir -p "$BUILD_DIR"
    # Up to date: nothing it includes or is built from is newer.
    if [[ -x $BIN && -z $(find include tests/fuzz/segment_fuzz.cpp tests/fuzz/run.sh \
                               -newer "$BIN" -print -quit) ]]; then
        echo "fuzz: $BIN is up to date"
        return 0
    fi
    echo "fuzz: building $BIN with $CXX_FUZZ"
    "$CXX_FUZZ" -std=c++20 -O1 -g -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Wno-unused-value -I include tests/fuzz/segment_fuzz.cpp -o "$BIN.tmp"
    mv "$BIN.tmp" "$BIN"
}

WORK=
cleanup() {
    if [[ -n $WORK ]]; then
        rm -rf "$WORK"
    fi
}

run() {
    local corpus artifacts log status base=/tmp
    # The scratch logs live on tmpfs when there is one: twice the executions
    # per second (every input maps, recovers and unmaps a log).
    if [[ -d /dev/shm && -w /dev/shm ]]; then
        base=/dev/shm
    fi
    WORK=$(mktemp -d "$base/omstream-fuzz.XXXXXX")
    trap cleanup EXIT
    corpus=$WORK/corpus
    artifacts=$BUILD_DIR/artifacts
    log=$BUILD_DIR/fuzz.log
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp tests/fuzz/corpus/* "$corpus"/
    # Readable stack traces: clang-19's symbolizer if there, else any llvm-symbolizer.
    if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]]; then
        local sym
        for sym in /usr/lib/llvm-19/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)" \
                   "$(command -v llvm-symbolizer-14 || true)"; do
            if [[ -n $sym && -x $sym ]]; then
                export ASAN_SYMBOLIZER_PATH=$sym
                break
            fi
        done
    fi
    # The inputs that once found bugs (tests/fuzz/crashes) must stay harmless.
    local input
    echo "fuzz: replaying the inputs of tests/fuzz/crashes (fixed bugs)"
    for input in tests/fuzz/crashes/*; do
        case $input in *.md | *.cpp) continue ;; esac
        if ! OMSTREAM_FUZZ_TMP=$WORK "$BIN" "$input" >"$WORK/replay.log" 2>&1; then
            grep -v "^omstream: mapped_log '" "$WORK/replay.log" | tail -n 30 >&2
            echo "fuzz: regression input $input fails again" >&2
            return 1
        fi
    done
    echo "fuzz: running $BIN for $FUZZ_SECONDS s on a copy of tests/fuzz/corpus (log: $log)"
    # Only the fuzzer's exit status counts (not tee's or grep's). The lines
    # recovery prints for each log it cuts (most inputs) are left out; the
    # final "segment_fuzz stats" line counts them.
    set +e +o pipefail
    OMSTREAM_FUZZ_TMP=$WORK OMSTREAM_FUZZ_STATS=1 \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:handle_abort=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$BIN" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" 2>&1 |
        grep --line-buffered -v "^omstream: mapped_log '" | tee "$log" |
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)[[:space:]]|^"|^###### '
    status=${PIPESTATUS[0]}
    set -e -o pipefail

    if ((status != 0)); then
        echo "fuzz: FAILED (exit $status); full output in $log" >&2
        local found=0 f
        for f in "$artifacts"/*; do
            [[ -e $f ]] || continue
            found=1
            echo "fuzz: reproducer: $f   (replay: $BIN $f)" >&2
        done
        ((found)) || echo "fuzz: no reproducer written (see $log)" >&2
        return "$status"
    fi
    echo "fuzz: no crash in $FUZZ_SECONDS s"
}

case "${1:-run}" in
    build)
        build
        ;;
    run)
        build
        run
        ;;
    *)
        echo "usage: bash tests/fuzz/run.sh [build|run]" >&2
        exit 2
        ;;
esac
