// Cheap wall-clock timestamps. Every record gets a `created` time (S4), and
// system_clock::now() costs about 30-40 ns here, more than the rest of an
// append. Where the CPU's time-stamp counter is invariant, we read it (about
// 10 ns) and turn ticks into system-clock nanoseconds with a rate measured
// once per process and an anchor refreshed from the system clock every
// 50 ms per thread, so timestamps stay within a few microseconds of
// system_clock and never run backwards within a thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define OMSTREAM_HAVE_TSC 1
#else
#define OMSTREAM_HAVE_TSC 0
#endif

namespace omstream::detail {

inline std::int64_t system_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct tsc_rate {
    bool usable = false;
    double ns_per_tick = 0;
    std::uint64_t ns_per_tick_q32 = 0;  // the same in 32.32 fixed point: a multiply, no conversions
    std::uint64_t resync_ticks = 0;
};

#if OMSTREAM_HAVE_TSC
inline bool tsc_is_invariant() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos &&
                   line.find(" nonstop_tsc") != std::string::npos;
    }
    return false;
}

// A system-clock reading taken between two counter reads close together, so
// that we know which tick it belongs to.
struct clock_pair {
    std::uint64_t tick;
    std::int64_t ns;
};
inline clock_pair read_pair() noexcept {
    clock_pair best{0, 0};
    std::uint64_t narrowest = ~std::uint64_t{0};
    for (int i = 0; i < 8; ++i) {
        const std::uint64_t before = __rdtsc();
        const std::int64_t ns = system_now_ns();
        const std::uint64_t after = __rdtsc();
        if (after - before < narrowest) {
            narrowest = after - before;
            best = {before + (after - before) / 2, ns};
        }
    }
    return best;
}

// Measures the counter's rate against the system clock over 10 ms, once
// per process (the first append pays for it).
inline const tsc_rate& tsc() {
    static const tsc_rate rate = [] {
        tsc_rate r;
        if (!tsc_is_invariant())
            return r;
        const clock_pair first = read_pair();
        while (system_now_ns() - first.ns < 10'000'000) {
        }
        const clock_pair last = read_pair();
        if (last.tick <= first.tick)
            return r;
        r.ns_per_tick =
            static_cast<double>(last.ns - first.ns) / static_cast<double>(last.tick - first.tick);
        r.ns_per_tick_q32 = static_cast<std::uint64_t>(r.ns_per_tick * 4294967296.0);
        r.resync_ticks = static_cast<std::uint64_t>(50'000'000 / r.ns_per_tick);
        r.usable = r.ns_per_tick > 0;
        return r;
    }();
    return rate;
}
#endif

// Nanoseconds since the system clock's epoch, cheaply.
inline std::int64_t realtime_ns() noexcept {
#if OMSTREAM_HAVE_TSC
    const tsc_rate& rate = tsc();
    if (rate.usable) {
        thread_local std::uint64_t anchor_tick = 0;
        thread_local std::int64_t anchor_ns = 0;
        thread_local std::int64_t last = 0;
        const std::uint64_t tick = __rdtsc();
        std::int64_t now;
        if (anchor_ns == 0 || tick - anchor_tick > rate.resync_ticks) {
            const clock_pair anchor = read_pair();
            anchor_ns = anchor.ns;
            anchor_tick = anchor.tick;
            now = anchor_ns;
        } else {
            // At most resync_ticks (50 ms) apart, so the product stays
            // below 5e7 * 2^32, about 2^58, whatever the counter's rate.
            now = anchor_ns +
                  static_cast<std::int64_t>(((tick - anchor_tick) * rate.ns_per_tick_q32) >> 32);
        }
        if (now < last)
            now = last;  // a new anchor may be a hair behind: never go back
        last = now;
        return now;
    }
#endif
    return system_now_ns();
}

// Clock::now() as nanoseconds, through the cheap path for system_clock.
template <class Clock>
std::int64_t now_ns() noexcept {
    if constexpr (std::is_same_v<Clock, std::chrono::system_clock>) {
        return realtime_ns();
    } else {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count();
    }
}

}  // namespace omstream::detail
