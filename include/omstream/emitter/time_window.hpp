// What fixed_time_window and relaxed_time_window share (S6, S7): back-to-back
// half-open intervals [L0 + k*I, L0 + (k+1)*I) from the group's start L0,
// each emitted once its end has passed, empty or not, missed ones in order.
// The state is the start of the next interval, kept by the storage so that a
// restarted consumer keeps the group's alignment.
#pragma once

#include <omstream/concepts.hpp>
#include <omstream/error.hpp>
#include <omstream/options.hpp>

#include <chrono>
#include <cstdint>

namespace omstream::detail {

template <class Clock, bool DropLate>
struct time_window {
    using emitter_concept = emitter_tag;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using accepted_options = boost::hana::tuple<boost::hana::type<interval_option>>;
    struct state_type {
        std::int64_t start_ns;  // start of the next interval to emit
    };

    std::chrono::nanoseconds interval = std::chrono::seconds(1);

    template <class Options>
    static time_window checked(const Options& options, const char* what) {
        time_window e{options.template get<interval_option>(std::chrono::seconds(1))};
        if (e.interval <= std::chrono::nanoseconds::zero())
            throw error(errc::invalid_option, std::string(what) + ": interval must be positive");
        return e;
    }

    state_type start(time_point now) const noexcept { return {to_ns<Clock>(now)}; }

    template <class T>
    decision<Clock> next(const window<T>& pending, state_type& state, time_point now) const {
        const std::int64_t start = state.start_ns;
        const std::int64_t end = start + interval.count();
        auto entries = pending.entries();
        if constexpr (DropLate) {
            // S6: records created in an interval already emitted are dropped (counted late).
            std::size_t late = 0;
            for (auto e : entries) {
                if (e.created_ns() >= start) break;
                ++late;
            }
            if (late != 0) return decision<Clock>::drop(late);
        }
        if (to_ns<Clock>(now) < end) return decision<Clock>::wait(from_ns<Clock>(end));
        std::size_t covered = 0;
        for (auto e : entries) {
            if (e.created_ns() >= end) break;
            ++covered;
        }
        state.start_ns = end;
        return decision<Clock>::emit(covered);
    }
};

}  // namespace omstream::detail
