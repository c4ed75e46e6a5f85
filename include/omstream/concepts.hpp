// The concepts users and storages implement: `emitter` (S8) and `storage`.
// Each is a conjunction of small named parts, opted into with a tag so that
// look-alikes are not silently accepted, with a check_*() function whose
// static_asserts say which part is missing (one error, not a page).
#pragma once

#include <omstream/decision.hpp>
#include <omstream/metadata.hpp>
#include <omstream/record.hpp>
#include <omstream/window.hpp>

#include <boost/hana/tuple.hpp>

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace omstream {

struct emitter_tag {};
struct storage_tag {};

// Emitter state is kept by the storage, next to the group's position, so it
// must be plain bytes of bounded size (shared and persistent storages keep it
// in their segment header).
inline constexpr std::size_t max_emitter_state = 64;

// The options a storage or emitter takes: its `accepted_options` (a
// hana::tuple of hana::type<Option>), or none.
template <class T>
struct accepted_options_of {
    using type = boost::hana::tuple<>;
};
template <class T>
requires requires {
    typename T::accepted_options;
}
struct accepted_options_of<T> {
    using type = typename T::accepted_options;
};
template <class T>
using accepted_options_t = typename accepted_options_of<T>::type;

// --- emitter, part by part ------------------------------------------------
template <class E>
concept emitter_opted_in = std::same_as<typename E::emitter_concept, emitter_tag>;

template <class E>
concept emitter_has_clock = requires {
    typename E::clock_type;
    typename E::clock_type::time_point;
    { E::clock_type::now() } -> std::same_as<typename E::clock_type::time_point>;
};

template <class E>
concept emitter_state_storable = requires {
    typename E::state_type;
}
&&std::is_trivially_copyable_v<typename E::state_type> &&
    sizeof(typename E::state_type) <= max_emitter_state;

template <class E>
concept emitter_can_start = requires(const E& e, typename E::clock_type::time_point now) {
    { e.start(now) } -> std::same_as<typename E::state_type>;
};

template <class E, class T>
concept emitter_can_decide = requires(const E& e, const window<T>& pending,
                                      typename E::state_type& state,
                                      typename E::clock_type::time_point now) {
    { e.next(pending, state, now) } -> std::same_as<decision<typename E::clock_type>>;
};

// An emitter of windows over records of type T.
template <class E, class T = int>
concept emitter = std::copy_constructible<E> && emitter_opted_in<E> && emitter_has_clock<E> &&
    emitter_state_storable<E> && emitter_can_start<E> && emitter_can_decide<E, T>;

namespace detail {
// check_emitter() of every part but next(): first_of checks its children so,
// and their next() only once it is called with the stream's record type.
template <class E>
constexpr bool check_emitter_but_next() {
    // Nested, so that one mistake gives one error.
    static_assert(emitter_opted_in<E>,
                  "omstream: not an emitter: add `using emitter_concept = omstream::emitter_tag;`");
    if constexpr (emitter_opted_in<E>) {
        static_assert(emitter_has_clock<E>,
                      "omstream: an emitter needs `using clock_type = <a std::chrono clock>;`");
        static_assert(
            emitter_state_storable<E>,
            "omstream: an emitter needs `using state_type = ...;`, trivially copyable and at "
            "most omstream::max_emitter_state (64) bytes");
        if constexpr (emitter_has_clock<E> && emitter_state_storable<E>)
            static_assert(
                emitter_can_start<E>,
                "omstream: an emitter needs `state_type start(clock_type::time_point now) const`");
        static_assert(std::copy_constructible<E>,
                      "omstream: an emitter must be copy constructible");
        return emitter_has_clock<E> && emitter_state_storable<E> && emitter_can_start<E> &&
               std::copy_constructible<E>;
    }
    return false;
}
}  // namespace detail

template <class E, class T = int>
constexpr bool check_emitter() {
    if constexpr (detail::check_emitter_but_next<E>())
        static_assert(emitter_can_decide<E, T>,
                      "omstream: an emitter needs `decision<clock_type> next(const window<T>& "
                      "pending, state_type& state, clock_type::time_point now) const`");
    return emitter<E, T>;
}

// --- storage, part by part ------------------------------------------------
template <class S>
concept storage_opted_in = std::same_as<typename S::storage_concept, storage_tag>;

template <class S>
concept storage_names_record = requires {
    typename S::record_type;
}
&&record<typename S::record_type>;

template <class S>
concept storage_has_kind = requires {
    { S::kind } -> std::convertible_to<std::string_view>;
};

template <class S>
concept storage_appends = requires(S& s, const typename S::record_type* first, std::size_t n,
                                   std::int64_t created) {
    s.append(first, n, created);
    { s.try_append(first, n, created) } -> std::same_as<bool>;
};

template <class S>
concept storage_serves_groups = requires(S& s, std::string_view name,
                                         std::span<const std::byte> state,
                                         typename S::group_handle group, std::uint64_t ticket) {
    typename S::claim_type;
    { s.join(name, state) } -> std::same_as<typename S::group_handle>;
    s.commit(group, ticket);
    s.abandon(group, ticket);
    s.consumer_signal().wake_always();
};

template <class S>
concept storage_describes_itself = requires(S& s, std::string_view group) {
    { s.metadata() } -> std::same_as<stream_metadata>;
    { s.buffer(group) } -> std::same_as<std::vector<buffered_entry<typename S::record_type>>>;
    { s.name() } -> std::convertible_to<std::string>;
};

template <class S>
concept storage = std::copy_constructible<S> && storage_opted_in<S> && storage_names_record<S> &&
    storage_has_kind<S> && storage_appends<S> && storage_serves_groups<S> &&
    storage_describes_itself<S>;

template <class S>
constexpr bool check_storage() {
    static_assert(storage_opted_in<S>,
                  "omstream: not a storage: add `using storage_concept = omstream::storage_tag;`");
    static_assert(
        storage_names_record<S>,
        "omstream: a storage needs `using record_type = T;` for a storable record type T");
    static_assert(storage_has_kind<S>,
                  "omstream: a storage needs `static constexpr std::string_view kind`");
    static_assert(storage_appends<S>,
                  "omstream: a storage needs append(const T*, std::size_t, std::int64_t) and "
                  "try_append(...) -> bool");
    static_assert(storage_serves_groups<S>,
                  "omstream: a storage needs group_handle, claim_type, join(name, state), "
                  "commit(group, ticket), abandon(group, ticket) and consumer_signal()");
    static_assert(storage_describes_itself<S>,
                  "omstream: a storage needs metadata(), buffer(group) and name()");
    return storage<S>;
}

}  // namespace omstream
