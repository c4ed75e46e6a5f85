// An emitter of windows of ten records that notes how many pending records
// each of its looks showed (empty ones aside): what a group far behind sees
// of its backlog (a memory or mapped_log stream shows it in parts).
#pragma once

#include <omstream/stream.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

namespace omstream::testing {

struct view_noting_window {
    using emitter_concept = emitter_tag;
    using clock_type = std::chrono::system_clock;
    using time_point = clock_type::time_point;
    struct state_type {};
    using accepted_options = boost::hana::tuple<>;
    static inline std::vector<std::size_t> views;  // sizes of the non-empty views, in order

    template <class Options>
    static view_noting_window from_options(const Options&) {
        return {};
    }
    state_type start(time_point) const noexcept { return {}; }
    template <class T>
    decision<clock_type> next(const window<T>& pending, state_type&, time_point) const {
        if (!pending.empty())
            views.push_back(pending.size());
        if (pending.size() < 10)
            return decision<clock_type>::wait(time_point::max(), 10 - pending.size());
        return decision<clock_type>::emit(10);
    }
};

}  // namespace omstream::testing
