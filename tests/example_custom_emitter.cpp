// The worked example of a custom emitter (examples/key_window.cpp, described
// in docs/emitters.md): its behaviour on a manual clock, and the emitter laws
// run on it the way users run their own emitters.
#include "conformance/emitter_laws.hpp"

#define OMSTREAM_EXAMPLE_NO_MAIN
#include "../examples/key_window.cpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace std::chrono_literals;
using example::reading;
using omstream::manual_clock;
using readings = omstream::stream<omstream::memory<reading>, example::key_window<manual_clock>>;

static_assert(omstream::check_emitter<example::key_window<manual_clock>, reading>());
static_assert(omstream::emitter<example::key_window<>, reading>);

const manual_clock::time_point t0{std::chrono::hours(24 * 365 * 50)};

class example_custom_emitter : public ::testing::Test {
  protected:
    void SetUp() override { manual_clock::set(t0); }
    void TearDown() override { omstream::memory<reading>::remove(name()); }
    static std::string name() {
        return std::string("example-key-window-") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    // The sensors of each window.
    template <class Stream>
    static std::vector<std::vector<int>> drain(Stream& s) {
        std::vector<std::vector<int>> windows;
        while (s.poll([&](const auto& w) {
            auto& keys = windows.emplace_back();
            for (const auto& r : w)
                keys.push_back(r.sensor);
        })) {
        }
        return windows;
    }
};

TEST_F(example_custom_emitter, one_window_per_run_of_a_key) {
    auto s = readings::open(name());
    s.append(
        std::vector<reading>{{1, 0.1}, {1, 0.2}, {1, 0.3}, {2, 0.4}, {2, 0.5}, {1, 0.6}, {3, 0.7}});
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1, 1, 1}, {2, 2}, {1}}));
    manual_clock::advance(24h);  // without max_wait the last run waits for another key
    EXPECT_TRUE(drain(s).empty());
    s.append(reading{3, 0.8});
    EXPECT_TRUE(drain(s).empty());
    s.append(reading{4, 0.9});
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{3, 3}}));
}

TEST_F(example_custom_emitter, max_wait_delivers_the_last_run_once_its_first_record_is_that_old) {
    auto s = readings::open(name(), omstream::max_wait = 2s);
    s.append(reading{5, 1.0});
    manual_clock::advance(1s);
    s.append(reading{5, 2.0});
    manual_clock::advance(1s - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{5, 5}}));
}

TEST_F(example_custom_emitter, the_windows_hold_the_records_in_order) {
    auto s = readings::open(name());
    const std::vector<reading> input{{1, 0.5}, {1, 1.5}, {2, 2.5}};
    s.append(input);
    std::vector<std::vector<reading>> windows;
    while (s.poll(
        [&](const omstream::window<reading>& w) { windows.emplace_back(w.begin(), w.end()); })) {
    }
    ASSERT_EQ(windows.size(), 1u);
    EXPECT_EQ(windows[0], (std::vector<reading>{{1, 0.5}, {1, 1.5}}));
}

TEST_F(example_custom_emitter, negative_max_wait_is_refused) {
    try {
        (void)readings::open(name(), omstream::max_wait = -1ms);
        FAIL() << "negative max_wait accepted";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
    }
}

TEST_F(example_custom_emitter, the_example_check_accepts_only_the_expected_windows) {
    using windows = std::vector<std::vector<reading>>;
    const windows good{{{1, 0}, {1, 0}, {1, 0}}, {{2, 0}, {2, 0}}, {{1, 0}}, {{3, 0}, {3, 0}}};
    EXPECT_TRUE(example::check(good));
    windows merged = good;
    merged[3].push_back({3, 0});
    EXPECT_FALSE(example::check(merged));
    windows short_of_one(good.begin(), good.end() - 1);
    EXPECT_FALSE(example::check(short_of_one));
}

// The laws, on readings keyed by sensor, three readings per sensor in a row;
// without max_wait the last run (up to three readings) may wait forever.
struct key_window_traits : omstream::testing::emitter_traits_base {
    using emitter_type = example::key_window<manual_clock>;
    using record_type = reading;
    static constexpr const char* name = "key_window";
    static reading make_record(std::size_t i) {
        return {static_cast<std::int32_t>(i / 3), static_cast<double>(i)};
    }
    static constexpr std::size_t max_held = 3;
};

}  // namespace

OMSTREAM_EMITTER_LAWS(example, key_window_traits);
