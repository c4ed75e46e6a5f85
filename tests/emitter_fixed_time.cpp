// fixed_time_window (S6), after minibatch's FixedTimeWindow tests, on a
// manual clock: back-to-back half-open intervals [L0 + kI, L0 + (k+1)I) from
// the group's start L0, empty ones included, missed ones in order, late
// records dropped and counted.
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
using fixed =
    omstream::stream<omstream::memory<int>, omstream::basic_fixed_time_window<manual_clock>>;
const manual_clock::time_point t0 = omstream::testing::time_window_t0;
constexpr char prefix[] = "emitter-fixed-";

struct taken {
    std::vector<int> records;
    std::int64_t created_ns;
};

class emitter_fixed_time : public omstream::testing::time_window_fixture<fixed, prefix> {
  protected:
    static std::vector<taken> drain(fixed& s) {
        std::vector<taken> windows;
        while (s.poll([&](const omstream::window<int>& w) {
            windows.push_back({{w.begin(), w.end()}, w.created_ns()});
        })) {
        }
        return windows;
    }
    static std::vector<std::vector<int>> records(const std::vector<taken>& windows) {
        std::vector<std::vector<int>> out;
        for (const auto& w : windows)
            out.push_back(w.records);
        return out;
    }
};

TEST_F(emitter_fixed_time, records_1s_apart_give_one_window_per_interval_empty_ones_included) {
    auto s = consumer();
    auto producer = fixed::open(name());
    std::vector<taken> windows;
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
        non_empty += !w.records.empty();
        all.insert(all.end(), w.records.begin(), w.records.end());
    }
    EXPECT_GE(non_empty, 4u);
    EXPECT_EQ(all, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})) << "every record exactly once";
    // ...and exactly: intervals 0..11 have ended, 0..9 hold one record each.
    ASSERT_EQ(windows.size(), 12u);
    for (int k = 0; k < 10; ++k)
        EXPECT_EQ(windows[k].records, std::vector<int>{k});
    EXPECT_TRUE(windows[10].records.empty());
    EXPECT_TRUE(windows[11].records.empty());
    EXPECT_EQ(s.metadata().groups.at(0).late, 0u);
}

TEST_F(emitter_fixed_time, a_window_is_emitted_once_its_end_has_passed_not_before) {
    auto s = consumer();
    manual_clock::advance(1s - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    const auto windows = drain(s);
    ASSERT_EQ(windows.size(), 1u);
    EXPECT_TRUE(windows[0].records.empty());
    EXPECT_EQ(windows[0].created_ns, omstream::detail::to_ns<manual_clock>(t0 + 1s));
}

TEST_F(emitter_fixed_time, windows_are_half_open_a_record_on_a_boundary_goes_to_the_later_window) {
    auto s = consumer();
    auto producer = fixed::open(name());
    manual_clock::advance(1s - 1ns);
    producer.append(1);  // L0 + 1 s - 1 ns: the first interval
    manual_clock::advance(1ns);
    producer.append(2);  // L0 + 1 s: the second
    manual_clock::advance(1s);
    producer.append(3);  // L0 + 2 s: the third
    manual_clock::advance(1s);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{1}, {2}, {3}}));
}

TEST_F(emitter_fixed_time, intervals_missed_while_no_consumer_ran_are_emitted_in_order) {
    auto s = consumer();
    append_created_at(t0 + 500ms, 1);
    append_created_at(t0 + 2500ms, 2);
    append_created_at(t0 + 3200ms, 3);
    append_created_at(t0 + 3700ms, 4);
    manual_clock::advance(5500ms);  // nobody polled for 5.5 s
    const auto windows = drain(s);
    EXPECT_EQ(records(windows), (std::vector<std::vector<int>>{{1}, {}, {2}, {3, 4}, {}}));
    for (const auto& w : windows)
        EXPECT_EQ(w.created_ns, omstream::detail::to_ns<manual_clock>(t0 + 5500ms));
    manual_clock::advance(500ms);  // L0 + 6 s: the next interval ends
    EXPECT_EQ(drain(s).size(), 1u);
}

TEST_F(emitter_fixed_time, intervals_stay_aligned_to_the_group_start) {
    auto s = consumer();
    manual_clock::advance(1700ms);
    EXPECT_EQ(drain(s).size(), 1u);  // [L0, L0 + 1 s)
    auto producer = fixed::open(name());
    producer.append(1);            // L0 + 1.7 s
    manual_clock::advance(299ms);  // L0 + 1.999 s: no window yet
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ms);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{1}}));
}

TEST_F(emitter_fixed_time, a_late_record_is_not_delivered_and_is_counted_late) {
    auto s = consumer();
    manual_clock::advance(1500ms);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{}}));  // [L0, L0 + 1 s) emitted
    append_created_at(t0 + 500ms, 99);  // created in the emitted interval
    fixed::open(name()).append(1);      // L0 + 1.5 s
    manual_clock::advance(500ms);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{1}}));
    const auto m = s.metadata();
    EXPECT_EQ(m.groups.at(0).late, 1u);
    EXPECT_EQ(m.late, 1u);
}

// Windows are prefixes of the pending records: the interval is delivered up
// to the late record, which is then dropped.
TEST_F(emitter_fixed_time, a_late_record_behind_an_on_time_one_is_not_delivered) {
    auto s = consumer();
    manual_clock::advance(1500ms);
    EXPECT_EQ(drain(s).size(), 1u);
    fixed::open(name()).append(1);      // L0 + 1.5 s
    append_created_at(t0 + 500ms, 99);  // late
    manual_clock::advance(500ms);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{1}}));
    EXPECT_EQ(s.metadata().groups.at(0).late, 1u);
}

// No interval before L0 (the group's start) was ever emitted, so records
// created before it are not late while the first window is still to come:
// it delivers them.
TEST_F(emitter_fixed_time, records_appended_before_the_group_starts_are_not_late) {
    fixed::open(name()).append(1);
    manual_clock::advance(100ms);
    auto s = consumer();  // L0 = t0 + 100 ms
    manual_clock::advance(1s);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{1}}));
    EXPECT_EQ(s.metadata().groups.at(0).late, 0u);
}

// Once windows went out, a record from before L0 is as late as one from the
// first interval: neither may be delivered in some later window.
TEST_F(emitter_fixed_time, a_record_from_before_the_group_start_arriving_after_a_window_is_late) {
    auto s = consumer();
    manual_clock::advance(3100ms);
    EXPECT_EQ(drain(s).size(), 3u);
    append_created_at(t0 - 1ms, 7);
    append_created_at(t0 + 1ms, 8);
    fixed::open(name()).append(9);  // L0 + 3.1 s
    manual_clock::advance(1s);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{9}}));
    EXPECT_EQ(s.metadata().groups.at(0).late, 2u);
}

TEST_F(emitter_fixed_time, a_record_late_by_a_whole_interval_is_counted_once) {
    auto s = consumer();
    manual_clock::advance(3s);
    EXPECT_EQ(drain(s).size(), 3u);
    append_created_at(t0 + 100ms, 7);
    append_created_at(t0 + 2900ms, 8);
    manual_clock::advance(1s);
    EXPECT_EQ(records(drain(s)), (std::vector<std::vector<int>>{{}}));
    EXPECT_EQ(s.metadata().groups.at(0).late, 2u);
}

// L0 + interval is past what int64 nanoseconds hold: the end saturates
// instead of wrapping into the past.
TEST_F(emitter_fixed_time, an_interval_too_long_to_reach_never_ends) {
    auto s = fixed::open(name(), omstream::interval = std::chrono::years(250));
    EXPECT_FALSE(s.poll([](const auto&) {}));
    s.append(1);
    manual_clock::advance(1s);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(std::chrono::years(10));
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.metadata().groups.at(0).late, 0u);
}

TEST_F(emitter_fixed_time, interval_must_be_positive) {
    for (const auto bad : {0ns, -1ns}) {
        try {
            (void)fixed::open(name(), omstream::interval = bad);
            ADD_FAILURE() << "interval " << bad.count() << " ns accepted";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
        }
    }
}

}  // namespace
