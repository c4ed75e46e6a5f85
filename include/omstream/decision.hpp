// What an emitter answers when asked about the pending records (S8): wait
// (until a deadline or a new record), emit a window over the first `count`
// pending records, or drop the first `count` as late (S6). drop(0) only
// moves the emitter's state on (it must then change it).
#pragma once

#include <chrono>
#include <cstddef>

namespace omstream {

enum class action : unsigned char { wait, emit, drop };

template <class Clock>
struct decision {
    using time_point = typename Clock::time_point;

    action what = action::wait;
    std::size_t count = 0;                    // emit/drop: a prefix of the pending records
    time_point deadline = time_point::max();  // wait: ask again at this time at the latest

    static decision wait(time_point until = time_point::max()) { return {action::wait, 0, until}; }
    static decision emit(std::size_t count) { return {action::emit, count, time_point::max()}; }
    static decision drop(std::size_t count) { return {action::drop, count, time_point::max()}; }
};

}  // namespace omstream
