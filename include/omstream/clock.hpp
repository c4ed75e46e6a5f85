// Clock policies. Emitters and streams are written against a clock type that
// meets std::chrono's Clock requirements; system_clock is the default and
// manual_clock lets tests drive time windows without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace omstream {

// A process-wide clock that only moves when told to. The Tag lets a test run
// two independent manual clocks (for example a producer that lags behind).
template <class Tag = void>
struct basic_manual_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<basic_manual_clock, duration>;
    static constexpr bool is_steady = false;

    static time_point now() noexcept { return time_point(duration(ticks().load())); }
    static void set(time_point t) noexcept { ticks().store(t.time_since_epoch().count()); }
    template <class Rep, class Period>
    static void advance(std::chrono::duration<Rep, Period> d) noexcept {
        ticks().fetch_add(std::chrono::duration_cast<duration>(d).count());
    }

  private:
    static std::atomic<rep>& ticks() noexcept {
        static std::atomic<rep> value{0};
        return value;
    }
};

using manual_clock = basic_manual_clock<>;

// Clocks whose time does not pass by itself: a consumer waiting on one must
// wake up now and then to look again instead of sleeping until a deadline.
template <class Clock>
inline constexpr bool is_manual_clock_v = false;
template <class Tag>
inline constexpr bool is_manual_clock_v<basic_manual_clock<Tag>> = true;

namespace detail {
// Storage keeps times as signed nanoseconds since the clock's epoch.
template <class Clock>
std::int64_t to_ns(typename Clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
template <class Clock>
typename Clock::time_point from_ns(std::int64_t ns) noexcept {
    return typename Clock::time_point(
        std::chrono::duration_cast<typename Clock::duration>(std::chrono::nanoseconds(ns)));
}
}  // namespace detail

}  // namespace omstream
