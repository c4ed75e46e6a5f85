// relaxed_time_window (S7): the timing of fixed_time_window, but a window
// holds every pending record created before its end, late ones included, so
// no record is ever dropped.
#pragma once

#include <omstream/emitter/time_window.hpp>

namespace omstream {

template <class Clock = std::chrono::system_clock>
struct basic_relaxed_time_window : detail::time_window<Clock, false> {
    template <class Options>
    static basic_relaxed_time_window from_options(const Options& options) {
        return {detail::time_window<Clock, false>::checked(options, "relaxed_time_window")};
    }
};

using relaxed_time_window = basic_relaxed_time_window<>;

}  // namespace omstream
