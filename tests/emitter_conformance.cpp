// Runs the emitter laws (conformance/emitter_laws.hpp) on every emitter that
// ships, and on the worked example of a custom one (examples/key_window.cpp).
#include "conformance/emitter_laws.hpp"
#include "support/log_home.hpp"

#include <omstream/stream.hpp>

#define OMSTREAM_EXAMPLE_NO_MAIN
#include "../examples/key_window.cpp"

#include <chrono>
#include <tuple>

namespace {

using namespace std::chrono_literals;
using omstream::manual_clock;
using omstream::testing::emitter_traits_base;

struct count_of_3 : emitter_traits_base {
    using emitter_type = omstream::basic_count_window<manual_clock>;
    static constexpr const char* name = "count_window";
    static auto options() { return std::tuple(omstream::size = 3); }
    static constexpr std::size_t max_held = 2;  // a partial window waits for more
};

struct count_with_max_wait : emitter_traits_base {
    using emitter_type = omstream::basic_count_window<manual_clock>;
    static constexpr const char* name = "count_window_max_wait";
    static auto options() { return std::tuple(omstream::size = 4, omstream::max_wait = 700ms); }
};

struct fixed_time : emitter_traits_base {
    using emitter_type = omstream::basic_fixed_time_window<manual_clock>;
    static constexpr const char* name = "fixed_time_window";
    static auto options() { return std::tuple(omstream::interval = 1s); }
    static constexpr bool may_drop = true;  // S6: late records
};

struct relaxed_time : emitter_traits_base {
    using emitter_type = omstream::basic_relaxed_time_window<manual_clock>;
    static constexpr const char* name = "relaxed_time_window";
    static auto options() { return std::tuple(omstream::interval = 1s); }
};

struct count_or_time : emitter_traits_base {
    using emitter_type = omstream::first_of<omstream::basic_count_window<manual_clock>,
                                            omstream::basic_relaxed_time_window<manual_clock>>;
    static constexpr const char* name = "first_of_count_relaxed";
    // Options in either order (size first in emitter_composite.cpp).
    static auto options() { return std::tuple(omstream::interval = 1s, omstream::size = 5); }
};

// The custom example, keyed on value / 3 so that runs are three records long.
struct by_third {
    int operator()(int x) const noexcept { return x / 3; }
};
struct key_window_max_wait : emitter_traits_base {
    using emitter_type = example::basic_key_window<by_third, manual_clock>;
    static constexpr const char* name = "key_window_max_wait";
    static auto options() { return std::tuple(omstream::max_wait = 500ms); }
};

// The laws hold whatever the storage: the shared ones run a few emitters too
// (one that drops, the composite, and the custom example).
template <class Traits, template <class> class Storage>
struct on : Traits {
    template <class T>
    using storage_type = Storage<T>;
};
struct fixed_time_on_shm_ring : on<fixed_time, omstream::shm_ring> {
    static constexpr const char* name = "fixed_time_window_on_shm_ring";
};
struct count_or_time_on_shm_ring : on<count_or_time, omstream::shm_ring> {
    static constexpr const char* name = "first_of_count_relaxed_on_shm_ring";
};
struct key_window_on_shm_ring : on<key_window_max_wait, omstream::shm_ring> {
    static constexpr const char* name = "key_window_max_wait_on_shm_ring";
};
struct fixed_time_on_mapped_log : on<fixed_time, omstream::mapped_log> {
    static constexpr const char* name = "fixed_time_window_on_mapped_log";
};
struct count_or_time_on_mapped_log : on<count_or_time, omstream::mapped_log> {
    static constexpr const char* name = "first_of_count_relaxed_on_mapped_log";
};
struct key_window_on_mapped_log : on<key_window_max_wait, omstream::mapped_log> {
    static constexpr const char* name = "key_window_max_wait_on_mapped_log";
};

}  // namespace

OMSTREAM_EMITTER_LAWS(emitters, count_of_3, count_with_max_wait, fixed_time, relaxed_time,
                      count_or_time, key_window_max_wait, fixed_time_on_shm_ring,
                      count_or_time_on_shm_ring, key_window_on_shm_ring, fixed_time_on_mapped_log,
                      count_or_time_on_mapped_log, key_window_on_mapped_log);
