// fixed_time_window (S6): back-to-back intervals of length `interval`; a
// record created in an interval that was already emitted is not delivered
// and is counted as late in the metadata.
#pragma once

#include <omstream/emitter/time_window.hpp>

namespace omstream {

template <class Clock = std::chrono::system_clock>
struct basic_fixed_time_window : detail::time_window<Clock, true> {
    template <class Options>
    static basic_fixed_time_window from_options(const Options& options) {
        return {detail::time_window<Clock, true>::checked(options, "fixed_time_window")};
    }
};

using fixed_time_window = basic_fixed_time_window<>;

}  // namespace omstream
