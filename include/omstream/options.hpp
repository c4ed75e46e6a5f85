// Named options: `om::size = 5`, `om::interval = 2s`, `om::group = "risk"`.
// open() takes them in any order and gathers them into an option_set keyed
// by option type. Each storage and emitter lists the options it takes, and an
// option that none of them takes is a compile error that names it.
#pragma once

#include <omstream/error.hpp>

#include <boost/hana/contains.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ratio>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace omstream {

// When a mapped_log forces its records to disk (msync + fdatasync). Every
// policy survives a crash of the process; only a sync survives a crash of
// the machine.
struct sync_policy {
    std::uint64_t every_records = 0;    // 0: not by count
    std::chrono::nanoseconds every{0};  // 0: not by time
    bool always = false;                // before append() returns
};
inline constexpr sync_policy sync_never{};  // page cache only (the default)
inline constexpr sync_policy sync_always{0, std::chrono::nanoseconds{0}, true};
// A policy that syncs by neither count nor time would be sync_never in
// disguise: refused here, where the mistake is.
inline constexpr sync_policy sync_every(std::uint64_t records,
                                        std::chrono::nanoseconds interval = {}) {
    if (interval < std::chrono::nanoseconds::zero() ||
        (records == 0 && interval == std::chrono::nanoseconds::zero()))
        throw error(errc::invalid_option,
                    "sync_every needs a positive record count or interval (om::sync_never "
                    "says never)");
    return {records, interval, false};
}
inline constexpr sync_policy sync_every(std::chrono::nanoseconds interval) {
    return sync_every(0, interval);
}

// Where a consumer group that does not exist yet starts reading.
struct start_position {
    enum class from : std::uint8_t { oldest, newest, sequence, time };
    from where = from::oldest;
    std::uint64_t seq = 0;     // from::sequence
    std::int64_t time_ns = 0;  // from::time: the first record created at or after
};
inline constexpr start_position from_oldest{start_position::from::oldest};
inline constexpr start_position from_newest{start_position::from::newest};
inline constexpr start_position from_seq(std::uint64_t seq) {
    return {start_position::from::sequence, seq, 0};
}
template <class Clock, class Duration>
constexpr start_position from_time(std::chrono::time_point<Clock, Duration> t) {
    return {start_position::from::time, 0,
            std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()};
}

// The value of one option, as produced by `option_name = value`.
template <class Option>
struct option_value {
    using option = Option;
    typename Option::value_type value;
};

namespace detail {
template <class T>
inline constexpr bool is_duration = false;
template <class Rep, class Period>
inline constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

// What `option = value` takes: whatever the option's type is constructible
// from, and for a duration option any duration (operator= converts it).
template <class V, class T>
concept duration_to_duration = is_duration<T> && is_duration<std::remove_cvref_t<V>>;
template <class V, class T>
concept option_argument = std::constructible_from<T, V> || duration_to_duration<V, T>;

// `v` in the option's duration type, rounded up so that a non-zero duration
// never becomes zero. A value out of that type's range is refused: the
// conversion would wrap (years(300) in nanoseconds is negative).
template <class Option, class To, class From>
constexpr To option_duration(const From& v) {
    if constexpr (std::is_same_v<To, From>) {
        return v;
    } else {
        // Compared in long double, which holds any duration without wrapping;
        // where it holds int64 inexactly, max rounds up to 2^63, still safe.
        const long double x = std::chrono::duration<long double, typename To::period>(v).count();
        const auto lowest = static_cast<long double>(To::min().count());
        const auto highest = static_cast<long double>(To::max().count());
        if (!(x >= lowest && x < highest)) {
            const auto years =
                std::chrono::duration_cast<std::chrono::duration<double, std::ratio<31556952>>>(
                    To::max());
            std::string range =
                std::to_string(To::min().count()) + " to " + std::to_string(To::max().count());
            if constexpr (std::is_same_v<typename To::period, std::nano>)
                range += " ns";
            else
                range += " ticks of " + std::to_string(To::period::num) + "/" +
                         std::to_string(To::period::den) + " s";
            throw error(errc::invalid_option, std::string("omstream: option '") + Option::name +
                                                  "' must be within " + range + " (about " +
                                                  std::to_string(static_cast<long>(years.count())) +
                                                  " years either way)");
        }
        return std::chrono::ceil<To>(v);
    }
}
}  // namespace detail

// The object users write on the left of `=`.
template <class Option>
struct option_key {
    using value_type = typename Option::value_type;

    template <detail::option_argument<value_type> V>
    constexpr option_value<Option> operator=(V&& v) const {
        if constexpr (detail::is_duration<value_type> &&
                      !detail::is_duration<std::remove_cvref_t<V>>) {
            // A duration is explicitly constructible from a bare number, which
            // would silently mean its ticks (nanoseconds): `max_wait = 50` is
            // refused with a message that names the option instead.
            Option::template check_duration<false>();
            return {};
        } else if constexpr (detail::is_duration<value_type>) {
            return {detail::option_duration<Option, value_type>(v)};
        } else {
            return {value_type(std::forward<V>(v))};
        }
    }
};

// Declares the option type NAME##_option, with static_assert messages that
// name the option, and the key object NAME. Names are fully qualified so that
// users can define options in their own namespaces (docs/emitters.md).
#define OMSTREAM_DEFINE_OPTION(NAME, TYPE)                                                 \
    struct NAME##_option {                                                                 \
        using value_type = TYPE;                                                           \
        static constexpr const char* name = #NAME;                                         \
        template <bool Accepted>                                                           \
        static constexpr void check() {                                                    \
            static_assert(Accepted, "omstream: option '" #NAME                             \
                                    "' is not taken by this stream's storage or emitter"); \
        }                                                                                  \
        template <bool IsDuration>                                                         \
        static constexpr void check_duration() {                                           \
            static_assert(IsDuration, "omstream: option '" #NAME                           \
                                      "' takes a std::chrono duration, e.g. 50ms; a bare " \
                                      "number would silently mean nanoseconds");           \
        }                                                                                  \
    };                                                                                     \
    inline constexpr ::omstream::option_key<NAME##_option> NAME {}

// Taken by every stream.
OMSTREAM_DEFINE_OPTION(group, std::string);                 // S10 consumer group, default "default"
OMSTREAM_DEFINE_OPTION(timeout, std::chrono::nanoseconds);  // S13 longest wait of append()
OMSTREAM_DEFINE_OPTION(max_record_size, std::size_t);       // bytes; larger records are refused
// Storages.
OMSTREAM_DEFINE_OPTION(capacity, std::size_t);              // records held unprocessed (bound)
OMSTREAM_DEFINE_OPTION(keep, bool);                         // keep processed records
OMSTREAM_DEFINE_OPTION(max_age, std::chrono::nanoseconds);  // drop records older than this
OMSTREAM_DEFINE_OPTION(permissions, unsigned);  // shm_ring: mode bits of a new segment (0600)
OMSTREAM_DEFINE_OPTION(lossy, bool);  // shm_ring: a full ring overwrites the oldest records
// mapped_log.
OMSTREAM_DEFINE_OPTION(root, std::string);          // directory that holds the logs
OMSTREAM_DEFINE_OPTION(segment_size, std::size_t);  // bytes of records per segment file
OMSTREAM_DEFINE_OPTION(max_bytes, std::uint64_t);   // retention: bytes of segments kept at most
OMSTREAM_DEFINE_OPTION(durability, sync_policy);    // when appends reach the disk
OMSTREAM_DEFINE_OPTION(start, start_position);      // where a new consumer group starts
// Emitters.
OMSTREAM_DEFINE_OPTION(size, std::size_t);                   // S5 records per count window
OMSTREAM_DEFINE_OPTION(max_wait, std::chrono::nanoseconds);  // S5 deliver partial windows after
OMSTREAM_DEFINE_OPTION(interval, std::chrono::nanoseconds);  // S6/S7 time window length

// The options a stream was opened with: one value per option type. (A plain
// tuple, not a hana::map: GCC 12 lays out hana::map temporaries differently
// depending on earlier instantiations, which breaks the ODR across TUs.)
template <class... Options>
class option_set {
  public:
    constexpr explicit option_set(typename Options::value_type... values)
        : values_(std::move(values)...) {}

    template <class Option>
    static constexpr bool has = (std::is_same_v<Option, Options> || ...);

    // The option's value, or `fallback` when it was not given.
    template <class Option>
    typename Option::value_type get(typename Option::value_type fallback) const {
        if constexpr (has<Option>) {
            return std::get<index_of<Option>()>(values_);
        } else {
            return fallback;
        }
    }

  private:
    template <class Option>
    static constexpr std::size_t index_of() {
        std::size_t i = 0;
        ((std::is_same_v<Option, Options> ? false : (++i, true)) && ...);
        return i;
    }
    std::tuple<typename Options::value_type...> values_;
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
    constexpr bool taken = (... || decltype(boost::hana::contains(
                                       std::declval<Lists>(), boost::hana::type_c<Option>))::value);
    Option::template check<taken>();
}

template <class Option, class... All>
inline constexpr std::size_t count_of = (std::size_t{0} + ... +
                                         std::size_t{std::is_same_v<Option, All>});

template <class... Options>
constexpr bool all_distinct() {
    return ((count_of<Options, Options...> == 1) && ...);
}
}  // namespace detail

template <class... Options>
auto make_options(option_value<Options>... values) {
    static_assert(detail::all_distinct<Options...>(), "omstream: an option is given twice");
    return option_set<Options...>(std::move(values.value)...);
}

// Options taken by every stream, whatever its storage and emitter.
using stream_options =
    boost::hana::tuple<boost::hana::type<group_option>, boost::hana::type<timeout_option>,
                       boost::hana::type<max_record_size_option>>;

}  // namespace omstream
