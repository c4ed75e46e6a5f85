// What fixed_time_window and relaxed_time_window share (S6, S7): back-to-back
// half-open intervals [L0 + k*I, L0 + (k+1)*I) from the group's start L0,
// each emitted once its end has passed, empty or not, missed ones in order.
// The state is the start of the next interval, kept by the storage so that a
// restarted consumer keeps the group's alignment.
#pragma once

#include <omstream/concepts.hpp>
#include <omstream/detail/emitter_identity.hpp>
#include <omstream/error.hpp>
#include <omstream/options.hpp>

#include <chrono>
#include <cstdint>
#include <limits>

namespace omstream::detail {

template <class Clock, bool DropLate>
struct time_window {
    using emitter_concept = emitter_tag;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using accepted_options = boost::hana::tuple<boost::hana::type<interval_option>>;
    // Fixed and relaxed windows keep the same state (the next interval's
    // start, on this clock): either may consume a group the other made.
    static constexpr std::uint64_t state_id = fnv1a("omstream::time_window", clock_id<Clock>());
    struct state_type {
        std::int64_t start_ns;   // start of the next interval to emit
        std::int64_t origin_ns;  // L0: the group's start; start_ns == origin_ns: nothing emitted
        std::int64_t split;      // 1 once part of the current interval went out (see next())
    };

    std::chrono::nanoseconds interval = std::chrono::seconds(1);

    template <class Options>
    static time_window checked(const Options& options, const char* what) {
        time_window e{options.template get<interval_option>(std::chrono::seconds(1))};
        if (e.interval <= std::chrono::nanoseconds::zero())
            throw error(errc::invalid_option, std::string(what) + ": interval must be positive");
        return e;
    }

    state_type start(time_point now) const noexcept {
        return {to_ns<Clock>(now), to_ns<Clock>(now), 0};
    }

    template <class T>
    decision<Clock> next(const window<T>& pending, state_type& state, time_point now) const {
        const std::int64_t start = state.start_ns;
        const std::int64_t end = deadline_after(start, interval);
        // An interval whose end the clock cannot hold never ends.
        const bool endless = end == std::numeric_limits<std::int64_t>::max();
        // S6: a record created in an interval already emitted is late. Until
        // the first interval is out nothing is, so records from before the
        // group's start go to the first window. After it they are late like
        // any other: else one arriving then would join whatever window is
        // next, while a younger record from the first interval is dropped.
        const bool emitted_any = start != state.origin_ns;
        auto late = [&](std::int64_t created) { return emitted_any && created < start; };
        auto entries = pending.entries();
        if constexpr (DropLate) {
            std::size_t leading = 0;
            for (auto e : entries) {
                if (!late(e.created_ns()))
                    break;
                ++leading;
            }
            if (leading != 0)
                return decision<Clock>::drop(leading);
        }
        if (endless || to_ns<Clock>(now) < end) {
            // Until `end` only time changes the answer, except where a late
            // record can arrive at the front of the pending records, to be
            // dropped: when none are pending (fixed windows).
            const std::size_t more =
                DropLate && pending.empty() ? 1 : std::numeric_limits<std::size_t>::max();
            return decision<Clock>::wait(endless ? time_point::max() : from_ns<Clock>(end), more);
        }
        std::size_t covered = 0;
        for (auto e : entries) {
            if (e.created_ns() >= end)
                break;
            if (DropLate && late(e.created_ns())) {
                // Windows are prefixes: deliver the interval in parts, so
                // that the late record in between can be dropped first.
                state.split = 1;
                return decision<Clock>::emit(covered);
            }
            ++covered;
        }
        state.start_ns = end;
        const bool nothing_left_of_a_split_interval = covered == 0 && state.split;
        state.split = 0;
        // drop(0) moves the state on without delivering an empty tail part.
        return nothing_left_of_a_split_interval ? decision<Clock>::drop(0)
                                                : decision<Clock>::emit(covered);
    }
};

}  // namespace omstream::detail
