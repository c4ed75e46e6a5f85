// relaxed_time_window (S7), after minibatch's RelaxedTimeWindow tests, on a
// manual clock: the timing of fixed_time_window, but a window holds every
// pending record created before its end, late ones included; nothing is
// ever dropped.
#include "support/time_window_fixture.hpp"

#include <omstream/core.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using omstream::manual_clock;
using relaxed =
    omstream::stream<omstream::memory<int>, omstream::basic_relaxed_time_window<manual_clock>>;
const manual_clock::time_point t0 = omstream::testing::time_window_t0;
constexpr char prefix[] = "emitter-relaxed-";

class emitter_relaxed_time : public omstream::testing::time_window_fixture<relaxed, prefix> {
  protected:
    static std::vector<std::vector<int>> drain(relaxed& s) {
        std::vector<std::vector<int>> windows;
        while (s.poll(
            [&](const omstream::window<int>& w) { windows.emplace_back(w.begin(), w.end()); })) {
        }
        return windows;
    }
};

TEST_F(emitter_relaxed_time, records_1s_apart_give_one_window_per_interval_empty_ones_included) {
    auto s = consumer();
    auto producer = relaxed::open(name());
    std::vector<std::vector<int>> windows;
    manual_clock::advance(500ms);
    for (int i = 0; i < 10; ++i) {
        producer.append(i);  // created at L0 + i + 0.5 s
        manual_clock::advance(1s);
        for (auto& w : drain(s))
            windows.push_back(std::move(w));
    }
    manual_clock::advance(2s);  // past the end: L0 + 12.5 s
    for (auto& w : drain(s))
        windows.push_back(std::move(w));

    // minibatch's assertions...
    EXPECT_GT(windows.size(), 5u);
    std::size_t non_empty = 0;
    std::vector<int> all;
    for (const auto& w : windows) {
        non_empty += !w.empty();
        all.insert(all.end(), w.begin(), w.end());
    }
    EXPECT_GE(non_empty, 4u);
    EXPECT_EQ(all, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})) << "every record exactly once";
    // ...and exactly: intervals 0..11 have ended, 0..9 hold one record each.
    ASSERT_EQ(windows.size(), 12u);
    for (int k = 0; k < 10; ++k)
        EXPECT_EQ(windows[k], std::vector<int>{k});
    EXPECT_TRUE(windows[10].empty());
    EXPECT_TRUE(windows[11].empty());
}

TEST_F(emitter_relaxed_time, a_window_is_emitted_once_its_end_has_passed_not_before) {
    auto s = consumer();
    relaxed::open(name()).append(1);
    manual_clock::advance(1s - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1}}));
}

TEST_F(emitter_relaxed_time,
       windows_are_half_open_a_record_on_a_boundary_goes_to_the_later_window) {
    auto s = consumer();
    auto producer = relaxed::open(name());
    manual_clock::advance(1s - 1ns);
    producer.append(1);
    manual_clock::advance(1ns);
    producer.append(2);  // L0 + 1 s
    manual_clock::advance(1s);
    producer.append(3);  // L0 + 2 s
    manual_clock::advance(1s);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1}, {2}, {3}}));
}

TEST_F(emitter_relaxed_time, intervals_missed_while_no_consumer_ran_are_emitted_in_order) {
    auto s = consumer();
    append_created_at(t0 + 500ms, 1);
    append_created_at(t0 + 2500ms, 2);
    append_created_at(t0 + 3200ms, 3);
    append_created_at(t0 + 3700ms, 4);
    manual_clock::advance(5500ms);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1}, {}, {2}, {3, 4}, {}}));
}

TEST_F(emitter_relaxed_time, a_late_record_is_delivered_in_the_next_window) {
    auto s = consumer();
    manual_clock::advance(1500ms);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{}}));  // [L0, L0 + 1 s) emitted
    append_created_at(t0 + 500ms, 99);                         // created in the emitted interval
    relaxed::open(name()).append(1);                           // L0 + 1.5 s
    manual_clock::advance(500ms);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{99, 1}}));
    EXPECT_EQ(s.metadata().groups.at(0).late, 0u);
}

TEST_F(emitter_relaxed_time, a_late_record_behind_an_on_time_one_is_delivered_too) {
    auto s = consumer();
    manual_clock::advance(1500ms);
    EXPECT_EQ(drain(s).size(), 1u);
    relaxed::open(name()).append(1);    // L0 + 1.5 s
    append_created_at(t0 + 500ms, 99);  // late
    manual_clock::advance(500ms);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1, 99}}));
}

TEST_F(emitter_relaxed_time, records_appended_before_the_group_starts_come_in_its_first_window) {
    relaxed::open(name()).append(1);
    manual_clock::advance(100ms);
    auto s = consumer();  // L0 = t0 + 100 ms
    manual_clock::advance(1s);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1}}));
}

TEST_F(emitter_relaxed_time, nothing_is_dropped) {
    auto s = consumer();
    auto producer = relaxed::open(name());
    int next = 0;
    std::vector<int> all;
    for (int round = 0; round < 20; ++round) {
        producer.append(next++);
        append_created_at(manual_clock::now() - std::chrono::milliseconds(300 * round), next++);
        manual_clock::advance(std::chrono::milliseconds(100 + 170 * (round % 7)));
        for (const auto& w : drain(s))
            all.insert(all.end(), w.begin(), w.end());
    }
    manual_clock::advance(2s);
    for (const auto& w : drain(s))
        all.insert(all.end(), w.begin(), w.end());
    std::vector<int> expected(static_cast<std::size_t>(next));
    for (int i = 0; i < next; ++i)
        expected[static_cast<std::size_t>(i)] = i;
    EXPECT_EQ(all, expected);
    EXPECT_EQ(s.metadata().groups.at(0).late, 0u);
}

// L0 + interval is past what int64 nanoseconds hold: the end saturates
// instead of wrapping into the past.
TEST_F(emitter_relaxed_time, an_interval_too_long_to_reach_never_ends) {
    auto s = relaxed::open(name(), omstream::interval = std::chrono::years(250));
    EXPECT_FALSE(s.poll([](const auto&) {}));
    s.append(1);
    manual_clock::advance(1s);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(std::chrono::years(10));
    EXPECT_TRUE(drain(s).empty());
}

TEST_F(emitter_relaxed_time, interval_must_be_positive) {
    try {
        (void)relaxed::open(name(), omstream::interval = 0s);
        FAIL() << "interval 0 accepted";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
    }
}

}  // namespace
