// What an emitter answers when asked about the pending records (S8): wait
// (until a deadline or a new record), emit a window over the first `count`
// pending records, or drop the first `count` as late (S6). drop(0) only
// moves the emitter's state on (it must then change it).
//
// A wait may also say how many more records must be pending before its
// answer can change (a count window short of 10 records: 10). Consumers then
// watch for that record alone instead of the next one, which keeps them off
// the memory producers are writing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ratio>

namespace omstream {

enum class action : unsigned char { wait, emit, drop };

template <class Clock>
struct decision {
    using time_point = typename Clock::time_point;

    action what = action::wait;
    std::size_t count = 0;                    // emit/drop: a prefix of the pending records
    time_point deadline = time_point::max();  // wait: ask again at this time at the latest
    std::size_t more = 1;  // wait: records to arrive before the answer can change (0 counts as 1)

    static decision wait(time_point until = time_point::max(), std::size_t more = 1) {
        return {action::wait, 0, until, more};
    }
    static decision emit(std::size_t count) { return {action::emit, count, time_point::max()}; }
    static decision drop(std::size_t count) { return {action::drop, count, time_point::max()}; }
};

namespace detail {
// `t + d` (d >= 0) for a deadline, rounded up to the clock's ticks. A sum
// past what the clock holds saturates to time_point::max(): a deadline too
// far away to reach means never, not a wrapped one that has already passed.
template <class Clock>
typename Clock::time_point deadline_after(typename Clock::time_point t,
                                          std::chrono::nanoseconds d) noexcept {
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;
    if constexpr (std::ratio_less_v<typename duration::period, std::nano>) {
        if (d > std::chrono::duration_cast<std::chrono::nanoseconds>(duration::max()))
            return time_point::max();
    }
    const auto ticks = std::chrono::ceil<duration>(d);
    if (t.time_since_epoch() >= duration::zero() && ticks > time_point::max() - t)
        return time_point::max();
    return t + ticks;
}

// The same on the signed nanoseconds that emitter states keep.
inline std::int64_t deadline_after(std::int64_t t_ns, std::chrono::nanoseconds d) noexcept {
    const std::int64_t limit = std::chrono::nanoseconds::max().count();
    return t_ns >= 0 && d.count() > limit - t_ns ? limit : t_ns + d.count();
}
}  // namespace detail

}  // namespace omstream
