// A custom emitter (S8), worked end to end: key_window emits one window per
// run of records that share a key, "all readings of one sensor in a row".
// The run is complete when a record with another key arrives; the last run,
// which nothing follows yet, is delivered once its first record is max_wait
// old. docs/emitters.md walks through it.
//
//   example_key_window           prints the windows
//   example_key_window --test    checks them (exit code 0 on success)
#include <omstream/core.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <string_view>
#include <thread>
#include <vector>

namespace example {

// Windows over the longest prefix of pending records whose key, KeyOf{}(record),
// is that of the first pending record.
template <class KeyOf, class Clock = std::chrono::system_clock>
struct basic_key_window {
    // 1. Opt in, and name the clock the stream reads time from.
    using emitter_concept = omstream::emitter_tag;
    using clock_type = Clock;
    using time_point = typename Clock::time_point;
    // 2. What the emitter remembers between calls, kept by the storage next to
    //    the group's position: the pending records say all this one needs.
    struct state_type {};
    // 3. The options open() may pass to it.
    using accepted_options = boost::hana::tuple<boost::hana::type<omstream::max_wait_option>>;

    // Zero: the last run waits for a record with another key.
    std::chrono::nanoseconds max_wait = std::chrono::nanoseconds::zero();
    KeyOf key_of{};

    template <class Options>
    static basic_key_window from_options(const Options& options) {
        basic_key_window e{
            options.template get<omstream::max_wait_option>(std::chrono::nanoseconds::zero())};
        if (e.max_wait < std::chrono::nanoseconds::zero())
            throw omstream::error(omstream::errc::invalid_option,
                                  "key_window: max_wait must not be negative");
        return e;
    }

    state_type start(time_point) const noexcept { return {}; }

    // 4. The decision: a pure function of the pending records, the state and now.
    template <class T>
    omstream::decision<Clock> next(const omstream::window<T>& pending, state_type&,
                                   time_point now) const {
        using decision = omstream::decision<Clock>;
        if (pending.empty())
            return decision::wait();  // only a record can change that
        auto it = pending.begin();
        const auto key = key_of(*it);
        std::size_t run = 1;
        for (++it; it != pending.end(); ++it, ++run)
            if (key_of(*it) != key)
                return decision::emit(run);  // the run is complete
        if (max_wait == std::chrono::nanoseconds::zero())
            return decision::wait();
        const auto due = (*pending.entries().begin()).template created<Clock>() +
                         std::chrono::duration_cast<typename Clock::duration>(max_wait);
        if (now >= due)
            return decision::emit(run);
        return decision::wait(due);  // the consumer sleeps until then, or until a record arrives
    }
};

struct reading {
    BOOST_HANA_DEFINE_STRUCT(reading, (std::int32_t, sensor), (double, value));
    friend bool operator==(const reading&, const reading&) = default;
};

struct by_sensor {
    std::int32_t operator()(const reading& r) const noexcept { return r.sensor; }
};

template <class Clock = std::chrono::system_clock>
using key_window = basic_key_window<by_sensor, Clock>;

static_assert(omstream::check_emitter<key_window<>, reading>());

// Appends readings of sensors 1, 2, 1, 3 and returns the windows a consumer
// receives, the last one after max_wait.
inline std::vector<std::vector<reading>> run(bool print) {
    using namespace std::chrono_literals;
    using readings = omstream::stream<omstream::memory<reading>, key_window<>>;
    const std::string name = "example-key-window";
    omstream::memory<reading>::remove(name);

    auto producer = readings::open(name);
    auto consumer = readings::open(name, omstream::max_wait = 50ms);
    producer.append(
        std::vector<reading>{{1, 20.5}, {1, 20.7}, {1, 20.6}, {2, 18.0}, {2, 18.2}, {1, 20.9}});
    producer.append(reading{3, 25.0});
    producer.append(reading{3, 25.1});  // nothing follows sensor 3: delivered after max_wait

    // A watchdog, so that a bug ends the example instead of hanging it.
    std::stop_source give_up;
    std::jthread watchdog([&](std::stop_token done) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        cv.wait_for(lock, done, 10s, [] { return false; });
        if (!done.stop_requested())
            give_up.request_stop();
    });

    std::vector<std::vector<reading>> windows;
    consumer.apply(
        [&](const omstream::window<reading>& w) {
            if (print)
                std::cout << w << '\n';
            windows.emplace_back(w.begin(), w.end());
            if (windows.size() == 4)
                consumer.stop();
        },
        give_up.get_token());
    omstream::memory<reading>::remove(name);
    return windows;
}

inline bool check(const std::vector<std::vector<reading>>& windows) {
    const std::vector<std::pair<std::int32_t, std::size_t>> expected{
        {1, 3}, {2, 2}, {1, 1}, {3, 2}};
    if (windows.size() != expected.size()) {
        std::cerr << "expected 4 windows, got " << windows.size() << '\n';
        return false;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& [sensor, size] = expected[i];
        bool ok = windows[i].size() == size;
        for (const auto& r : windows[i])
            ok = ok && r.sensor == sensor;
        if (!ok) {
            std::cerr << "window " << i << ": expected " << size << " readings of sensor " << sensor
                      << '\n';
            return false;
        }
    }
    return true;
}

}  // namespace example

#ifndef OMSTREAM_EXAMPLE_NO_MAIN
int main(int argc, char** argv) {
    const bool test = argc > 1 && std::string_view(argv[1]) == "--test";
    try {
        const auto windows = example::run(!test);
        if (test)
            return example::check(windows) ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return 2;
    }
    return 0;
}
#endif
