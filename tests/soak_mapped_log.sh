#!/usr/bin/env bash
# Long soak of the mapped log's crash tests: the producer and consumer kill
# loops with ROUNDS kills each (default 10,000; CI runs 200), then the
# corruption rounds and the multi-process test REPEAT times. Usage, from a
# build directory:
#   bash ../tests/soak_mapped_log.sh [ROUNDS] [REPEAT]
set -euo pipefail
rounds=${1:-10000}
repeat=${2:-20}
tests=${TESTS:-tests/omstream_tests}
OMSTREAM_KILL_ROUNDS=$rounds "$tests" --gtest_filter="mapped_log_test.kill_loop*"
"$tests" --gtest_filter='mapped_log_test.corruption*:mapped_log_test.producer_processes*:mapped_log_test.a_producer_killed*' \
    --gtest_repeat="$repeat"
