// first_of<E...>: a window as soon as any of its emitters has one, "100
// records or 1 s, whichever comes first". When one emitter emits, every one,
// that one included, starts over from now, so `first_of<count_window,
// relaxed_time_window>` means "size records, or interval since the last
// window": a time child keeps no grid and replays no missed intervals. The
// child emitters and their states live in Hana tuples; options are routed to
// every child that takes them.
#pragma once

#include <omstream/concepts.hpp>
#include <omstream/detail/emitter_identity.hpp>

#include <boost/hana/at.hpp>
#include <boost/hana/concat.hpp>
#include <boost/hana/flatten.hpp>
#include <boost/hana/integral_constant.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/unpack.hpp>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace omstream {

template <class... Emitters>
struct first_of {
    static_assert(sizeof...(Emitters) >= 1, "omstream: first_of needs at least one emitter");
    static_assert((detail::check_emitter_but_next<Emitters>() && ...));

    using first_emitter = std::tuple_element_t<0, std::tuple<Emitters...>>;
    using clock_type = typename first_emitter::clock_type;
    static_assert((std::is_same_v<clock_type, typename Emitters::clock_type> && ...),
                  "omstream: the emitters of first_of must share one clock_type");

    using emitter_concept = emitter_tag;
    using time_point = typename clock_type::time_point;
    using accepted_options =
        decltype(boost::hana::flatten(boost::hana::make_tuple(accepted_options_t<Emitters>{}...)));
    using state_type = boost::hana::tuple<typename Emitters::state_type...>;
    // The children's, in order: no compiler's spelling of the composite.
    static constexpr std::uint64_t state_id = [] {
        std::uint64_t h = detail::fnv1a("omstream::first_of");
        for (const std::uint64_t child : {detail::state_id_of<Emitters>()...})
            h = (h ^ child) * 1099511628211ull;  // FNV's prime, a word at a time
        return h;
    }();

    boost::hana::tuple<Emitters...> emitters;

    template <class Options>
    static first_of from_options(const Options& options) {
        return {boost::hana::make_tuple(child_from_options<Emitters>(options)...)};
    }

    state_type start(time_point now) const {
        return boost::hana::unpack(emitters,
                                   [&](const auto&... e) { return state_type{e.start(now)...}; });
    }

    template <class T>
    decision<clock_type> next(const window<T>& pending, state_type& state, time_point now) const {
        return next_from<T, 0>(pending, state, now, time_point::max(), ~std::size_t{0});
    }

  private:
    template <class E, class Options>
    static E child_from_options(const Options& options) {
        if constexpr (requires { E::from_options(options); }) {
            return E::from_options(options);
        } else {
            return E{};
        }
    }

    template <class T, std::size_t I>
    decision<clock_type> next_from(const window<T>& pending, state_type& state, time_point now,
                                   time_point earliest, std::size_t fewest) const {
        if constexpr (I == sizeof...(Emitters)) {
            // Waits until the first child could change its answer.
            return decision<clock_type>::wait(earliest, fewest);
        } else {
            using child = std::tuple_element_t<I, std::tuple<Emitters...>>;
            if constexpr (!emitter_can_decide<child, T>) {
                static_assert(emitter_can_decide<child, T>,
                              "omstream: every emitter of first_of needs `decision<clock_type> "
                              "next(const window<T>& pending, state_type& state, "
                              "clock_type::time_point now) const` for the stream's record type T");
                return {};
            } else {
                constexpr auto index = boost::hana::size_c<I>;
                auto child_state = state[index];
                auto d = emitters[index].next(pending, child_state, now);
                if (d.what == action::wait)
                    return next_from<T, I + 1>(pending, state, now, std::min(earliest, d.deadline),
                                               std::min(fewest, std::max<std::size_t>(d.more, 1)));
                // A time child that kept its grid would, after a window of
                // another child, end its interval early; after one of its
                // own, replay the intervals missed meanwhile.
                if (d.what == action::emit)
                    state = start(now);
                else
                    state[index] = child_state;
                return d;
            }
        }
    }
};

}  // namespace omstream
