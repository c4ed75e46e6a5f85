#!/usr/bin/env bash
# Long soak of the shared-memory ring's crash tests: the producer kill loop
# with ROUNDS kills (default 10,000; CI runs 200), then the multi-process
# exactly-once test REPEAT times. Usage, from a build directory:
#   bash ../tests/soak_shm_ring.sh [ROUNDS] [REPEAT]
set -euo pipefail
rounds=${1:-10000}
repeat=${2:-50}
tests=${TESTS:-tests/omstream_tests}
OMSTREAM_KILL_ROUNDS=$rounds "$tests" --gtest_filter="shm_ring_test.kill_loop*"
"$tests" --gtest_filter='shm_ring_test.three_producer*:shm_ring_test.a_*killed*' --gtest_repeat="$repeat"
