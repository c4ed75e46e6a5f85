#!/usr/bin/env bash
# Compile-time cost of omstream: times (median of RUNS, default 3) compiling
#   deps      a TU that includes exactly the third-party and standard headers
#             that omstream's headers include (found with g++ -H, so it follows
#             the headers as they are now);
#   include   a TU that includes <omstream/stream.hpp> and uses nothing;
#   use       a TU that includes <omstream/stream.hpp> and instantiates
#             stream<memory<int>> append + poll with a count_window;
# with $CXX (default g++) -std=c++20 -O2 -c, and prints the times and ratios.
#
# Usage, from the repository root:  bash bench/compile_time.sh
# Environment: CXX, CXXFLAGS (extra flags), RUNS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-g++}"
runs="${RUNS:-3}"
read -r -a extra <<<"${CXXFLAGS:-}"
flags=(-std=c++20 -O2 -I"$root/include" "${extra[@]}")

work="$(mktemp -d)"
trap '[[ -n "${KEEP:-}" ]] && echo "kept $work" || rm -rf "$work"' EXIT

cat >"$work/use.cpp" <<'EOF'
#include <omstream/stream.hpp>

int omstream_compile_time_use() {
    auto p = omstream::stream<omstream::memory<int>>::open("compile-time");
    p.append(1);
    int sum = 0;
    auto c = omstream::stream<omstream::memory<int>, omstream::count_window>::open("compile-time",
                                                                                 omstream::size = 1);
    c.poll([&](const omstream::window<int>& w) {
        for (int v : w) sum += v;
    });
    omstream::memory<int>::remove("compile-time");
    return sum;
}
EOF

cat >"$work/include.cpp" <<'EOF'
#include <omstream/stream.hpp>

int omstream_compile_time_include() { return 0; }
EOF

# The headers that omstream's own headers include directly (as opened by the
# compiler: g++ -H prints one line per header, dots giving the depth).
"$cxx" "${flags[@]}" -H -fsyntax-only "$work/include.cpp" 2>"$work/tree.txt" >/dev/null
awk -v inc="$root/include/omstream/" '
    /^\.+ / {
        depth = length($1); path = $2
        stack[depth] = path
        parent = depth == 1 ? "" : stack[depth - 1]
        own = index(path, inc) == 1
        if (!own && (depth == 1 || index(parent, inc) == 1) && !(path in seen)) {
            seen[path] = 1
            print "#include \"" path "\""
        }
    }' "$work/tree.txt" >"$work/deps.inc"
# A top-level header of the TU itself (depth 1) is omstream/stream.hpp, so
# only headers whose includer is an omstream header end up in the list.
{
    cat "$work/deps.inc"
    echo
    echo "int omstream_compile_time_deps() { return 0; }"
} >"$work/deps.cpp"

if ! grep -q . "$work/deps.inc"; then
    echo "compile_time.sh: found no dependency headers (is g++ -H output as expected?)" >&2
    exit 1
fi

# Median wall time and median CPU time (user + sys), in seconds, of
# compiling $1 `runs` times. CPU time is the steadier figure on a busy host.
time_tu() {
    local tu="$1" i real user sys
    local -a walls=() cpus=()
    local TIMEFORMAT='%R %U %S'
    for ((i = 0; i < runs; ++i)); do
        if ! { time "$cxx" "${flags[@]}" -c "$tu" -o "$work/out.o" 2>"$work/err.txt"; } 2>"$work/time.txt"; then
            echo "compile_time.sh: compiling $(basename "$tu") failed:" >&2
            cat "$work/err.txt" >&2
            exit 1
        fi
        read -r real user sys <"$work/time.txt"
        walls+=("$real")
        cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')")
    done
    echo "$(median "${walls[@]}") $(median "${cpus[@]}")"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ t[NR] = $1 } END {
        printf "%.3f", NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'
}

deps_count=$(grep -c . "$work/deps.inc")
echo "compiler: $("$cxx" --version | head -n1)"
echo "flags:    ${flags[*]} -c   (median of $runs runs)"
echo "deps TU:  $deps_count headers that omstream includes directly (Boost.Hana, Boost.Container, range-v3, std, POSIX)"
echo

read -r w_deps c_deps <<<"$(time_tu "$work/deps.cpp")"
read -r w_inc c_inc <<<"$(time_tu "$work/include.cpp")"
read -r w_use c_use <<<"$(time_tu "$work/use.cpp")"

printf '%-48s %9s %9s\n' "translation unit" "wall s" "cpu s"
printf '%-48s %9s %9s\n' "dependencies' headers only" "$w_deps" "$c_deps"
printf '%-48s %9s %9s\n' "#include <omstream/stream.hpp>" "$w_inc" "$c_inc"
printf '%-48s %9s %9s\n' "#include + stream<memory<int>> append + poll" "$w_use" "$c_use"
echo
awk -v wd="$w_deps" -v wi="$w_inc" -v wu="$w_use" -v cd="$c_deps" -v ci="$c_inc" -v cu="$c_use" 'BEGIN {
    printf "%-48s %8.2fx %8.2fx\n", "ratio include / deps", wi / wd, ci / cd
    printf "%-48s %8.2fx %8.2fx\n", "ratio include + use / deps", wu / wd, cu / cd
    printf "%-48s %9.3f %9.3f\n", "instantiation alone (use - include), s", wu - wi, cu - ci
}'
