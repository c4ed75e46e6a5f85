// Named options: `om::size = 5`, `om::interval = 2s`, `om::group = "risk"`.
// open() takes them in any order and gathers them into a Hana map keyed by
// option type. Each storage and emitter lists the options it takes, and an
// option that none of them takes is a compile error that names it.
#pragma once

#include <boost/hana/at_key.hpp>
#include <boost/hana/contains.hpp>
#include <boost/hana/find.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/set.hpp>
#include <boost/hana/map.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace omstream {

// The value of one option, as produced by `option_name = value`.
template <class Option>
struct option_value {
    using option = Option;
    typename Option::value_type value;
};

// The object users write on the left of `=`.
template <class Option>
struct option_key {
    template <class V>
        requires std::constructible_from<typename Option::value_type, V>
    constexpr option_value<Option> operator=(V&& v) const {
        return {typename Option::value_type(std::forward<V>(v))};
    }
};

// Declares the option type NAME##_option, with a static_assert message that
// names the option, and the key object NAME.
#define OMSTREAM_DEFINE_OPTION(NAME, TYPE)                                                  \
    struct NAME##_option {                                                                   \
        using value_type = TYPE;                                                             \
        static constexpr const char* name = #NAME;                                           \
        template <bool Accepted>                                                             \
        static constexpr void check() {                                                      \
            static_assert(Accepted, "omstream: option '" #NAME                               \
                                    "' is not taken by this stream's storage or emitter"); \
        }                                                                                    \
    };                                                                                       \
    inline constexpr option_key<NAME##_option> NAME {}

// Taken by every stream.
OMSTREAM_DEFINE_OPTION(group, std::string);                       // S10 consumer group, default "default"
OMSTREAM_DEFINE_OPTION(timeout, std::chrono::nanoseconds);        // S13 longest wait of append()
OMSTREAM_DEFINE_OPTION(max_record_size, std::size_t);             // bytes; larger records are refused
// Storages.
OMSTREAM_DEFINE_OPTION(capacity, std::size_t);                    // records held unprocessed (bound)
OMSTREAM_DEFINE_OPTION(keep, bool);                               // keep processed records
OMSTREAM_DEFINE_OPTION(max_age, std::chrono::nanoseconds);        // drop records older than this
// Emitters.
OMSTREAM_DEFINE_OPTION(size, std::size_t);                        // S5 records per count window
OMSTREAM_DEFINE_OPTION(max_wait, std::chrono::nanoseconds);       // S5 deliver partial windows after
OMSTREAM_DEFINE_OPTION(interval, std::chrono::nanoseconds);       // S6/S7 time window length

// The options a stream was opened with.
template <class Map>
class option_set {
public:
    constexpr explicit option_set(Map map) : map_(std::move(map)) {}

    template <class Option>
    static constexpr bool has = decltype(boost::hana::contains(std::declval<Map>(),
                                                               boost::hana::type_c<Option>))::value;

    // The option's value, or `fallback` when it was not given.
    template <class Option>
    typename Option::value_type get(typename Option::value_type fallback) const {
        if constexpr (has<Option>) {
            return boost::hana::at_key(map_, boost::hana::type_c<Option>);
        } else {
            return fallback;
        }
    }

private:
    Map map_;
};

namespace detail {
template <class T>
inline constexpr bool is_option_value = false;
template <class O>
inline constexpr bool is_option_value<option_value<O>> = true;

// Each option given to open() must be taken by one of `Takers` (a pack of
// hana::tuple<hana::type<Option>...> lists); the failing option's own
// static_assert names it.
template <class Option, class... Lists>
constexpr void check_option_taken() {
    constexpr bool taken = (... || decltype(boost::hana::contains(std::declval<Lists>(),
                                                                  boost::hana::type_c<Option>))::value);
    Option::template check<taken>();
}

template <class... Options>
constexpr bool all_distinct() {
    return decltype(boost::hana::length(boost::hana::to_set(
               boost::hana::make_tuple(boost::hana::type_c<Options>...))))::value ==
           sizeof...(Options);
}
}  // namespace detail

template <class... Options>
auto make_options(option_value<Options>... values) {
    static_assert(detail::all_distinct<Options...>(), "omstream: an option is given twice");
    auto map = boost::hana::make_map(
        boost::hana::make_pair(boost::hana::type_c<Options>, std::move(values.value))...);
    return option_set<decltype(map)>(std::move(map));
}


// Options taken by every stream, whatever its storage and emitter.
using stream_options = boost::hana::tuple<boost::hana::type<group_option>,
                                          boost::hana::type<timeout_option>,
                                          boost::hana::type<max_record_size_option>>;

}  // namespace omstream
