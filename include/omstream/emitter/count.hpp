// count_window (S5): windows of exactly `size` records, in sequence order.
// A partial window waits for more records unless `max_wait` is set, in which
// case it is delivered once its first record is that old.
#pragma once

#include <omstream/concepts.hpp>
#include <omstream/detail/type_name.hpp>
#include <omstream/error.hpp>
#include <omstream/options.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace omstream {

template <class Clock = std::chrono::system_clock>
struct basic_count_window {
    using emitter_concept = emitter_tag;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    using accepted_options =
        boost::hana::tuple<boost::hana::type<size_option>, boost::hana::type<max_wait_option>>;
    struct state_type {};  // a count window needs no memory: the position says it all
    static constexpr std::uint64_t state_id = detail::fnv1a("omstream::count_window");

    std::size_t size = 1;
    std::chrono::nanoseconds max_wait = std::chrono::nanoseconds::zero();  // zero: wait for `size`

    template <class Options>
    static basic_count_window from_options(const Options& options) {
        basic_count_window e{
            options.template get<size_option>(1),
            options.template get<max_wait_option>(std::chrono::nanoseconds::zero())};
        if (e.size == 0)
            throw error(errc::invalid_option, "count_window: size must be at least 1");
        if (e.max_wait < std::chrono::nanoseconds::zero())
            throw error(errc::invalid_option, "count_window: max_wait must not be negative");
        return e;
    }

    state_type start(time_point) const noexcept { return {}; }

    template <class T>
    decision<Clock> next(const window<T>& pending, state_type&, time_point now) const {
        if (pending.size() >= size)
            return decision<Clock>::emit(size);
        const std::size_t missing = size - pending.size();
        if (max_wait == std::chrono::nanoseconds::zero())
            return decision<Clock>::wait(time_point::max(), missing);
        if (pending.empty())
            return decision<Clock>::wait();  // the first record sets the deadline
        const auto due = detail::deadline_after<Clock>(
            (*pending.entries().begin()).template created<Clock>(), max_wait);
        if (now >= due)
            return decision<Clock>::emit(pending.size());
        return decision<Clock>::wait(due, missing);
    }
};

using count_window = basic_count_window<>;

}  // namespace omstream
