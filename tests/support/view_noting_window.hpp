// An emitter of windows of ten records that notes how many pending records
// its first look showed: what a group far behind sees of its backlog at
// first (a memory or mapped_log stream shows it in parts).
#pragma once

#include <omstream/stream.hpp>

#include <chrono>
#include <cstddef>

namespace omstream::testing {

struct view_noting_window {
    using emitter_concept = emitter_tag;
    using clock_type = std::chrono::system_clock;
    using time_point = clock_type::time_point;
    struct state_type {};
    using accepted_options = boost::hana::tuple<>;
    static inline std::size_t first_view = 0;  // 0: no records seen yet (the first non-empty view)

    template <class Options>
    static view_noting_window from_options(const Options&) {
        return {};
    }
    state_type start(time_point) const noexcept { return {}; }
    template <class T>
    decision<clock_type> next(const window<T>& pending, state_type&, time_point) const {
        if (first_view == 0)
            first_view = pending.size();
        if (pending.size() < 10)
            return decision<clock_type>::wait(time_point::max(), 10 - pending.size());
        return decision<clock_type>::emit(10);
    }
};

}  // namespace omstream::testing
