// The cheap wall clock that stamps every record's `created` (S4): it must
// agree with system_clock and never run backwards within a thread.
#include <omstream/detail/fast_clock.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>

namespace {

using omstream::detail::realtime_ns;
using omstream::detail::system_now_ns;

TEST(fast_clock, agrees_with_the_system_clock_and_never_runs_backwards) {
    std::int64_t last = realtime_ns();
    std::int64_t worst = 0;
    // Long enough to cross several re-anchorings (one per 50 ms).
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(220);
    while (std::chrono::steady_clock::now() < end) {
        for (int i = 0; i < 1000; ++i) {
            const std::int64_t before = system_now_ns();
            const std::int64_t now = realtime_ns();
            const std::int64_t after = system_now_ns();
            ASSERT_GE(now, last) << "ran backwards";
            last = now;
            // A few microseconds of slack: the scaled counter is anchored to
            // the system clock, not read from it.
            const std::int64_t off = now < before ? before - now : now > after ? now - after : 0;
            worst = std::max(worst, off);
        }
        std::this_thread::yield();
    }
    EXPECT_LT(worst, 100'000) << "ns away from system_clock";
}

}  // namespace
