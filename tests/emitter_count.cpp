// count_window (S5), after minibatch's CountWindow tests: windows of exactly
// `size` records in sequence order, partial windows wait unless max_wait.
#include <omstream/core.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using omstream::manual_clock;
using counted = omstream::stream<omstream::memory<int>, omstream::basic_count_window<manual_clock>>;

const manual_clock::time_point t0{std::chrono::hours(24 * 365 * 50)};

class emitter_count : public ::testing::Test {
  protected:
    void SetUp() override { manual_clock::set(t0); }
    void TearDown() override { omstream::memory<int>::remove(name()); }
    static std::string name() {
        return std::string("emitter-count-") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }

    // Polls until nothing is ready; the windows' records.
    static std::vector<std::vector<int>> drain(counted& s) {
        std::vector<std::vector<int>> windows;
        while (s.poll(
            [&](const omstream::window<int>& w) { windows.emplace_back(w.begin(), w.end()); })) {
        }
        return windows;
    }
};

TEST_F(emitter_count, size_2_with_10_appends_gives_5_windows_of_2_in_order) {
    auto s = counted::open(name(), omstream::size = 2);
    for (int i = 0; i < 10; ++i)
        s.append(i);
    const auto windows = drain(s);
    ASSERT_EQ(windows.size(), 5u);
    for (int k = 0; k < 5; ++k)
        EXPECT_EQ(windows[k], (std::vector<int>{2 * k, 2 * k + 1}));
    EXPECT_EQ(s.metadata().groups.at(0).windows, 5u);
}

TEST_F(emitter_count, size_2_with_11_appends_leaves_1_unprocessed_record) {
    auto s = counted::open(name(), omstream::size = 2, omstream::keep = true);
    for (int i = 0; i < 11; ++i)
        s.append(i);
    EXPECT_EQ(drain(s).size(), 5u);
    const auto buffer = s.buffer();
    ASSERT_EQ(buffer.size(), 11u);
    std::vector<int> unprocessed;
    for (const auto& e : buffer)
        if (!e.processed)
            unprocessed.push_back(e.data);
    EXPECT_EQ(unprocessed, std::vector<int>{10});
    EXPECT_EQ(buffer.back().seq, 10u);
    EXPECT_FALSE(buffer.back().processed);
}

TEST_F(emitter_count, without_keep_only_the_unprocessed_record_stays_in_buffer) {
    auto s = counted::open(name(), omstream::size = 2);
    for (int i = 0; i < 11; ++i)
        s.append(i);
    EXPECT_EQ(drain(s).size(), 5u);
    const auto buffer = s.buffer();
    ASSERT_EQ(buffer.size(), 1u);
    EXPECT_EQ(buffer[0].seq, 10u);
    EXPECT_EQ(buffer[0].data, 10);
    EXPECT_FALSE(buffer[0].processed);
}

TEST_F(emitter_count, partial_window_waits_without_max_wait) {
    auto s = counted::open(name(), omstream::size = 3);
    s.append(std::vector<int>{1, 2});
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(24h);
    EXPECT_TRUE(drain(s).empty());
    s.append(3);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1, 2, 3}}));
}

TEST_F(emitter_count, batch_append_is_cut_into_windows) {
    auto s = counted::open(name(), omstream::size = 4);
    std::vector<int> batch(10);
    for (int i = 0; i < 10; ++i)
        batch[i] = i;
    s.append(batch);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
}

TEST_F(emitter_count, default_size_is_1) {
    auto s = counted::open(name());
    s.append(std::vector<int>{7, 8});
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{7}, {8}}));
}

TEST_F(emitter_count, max_wait_delivers_a_partial_window_once_its_first_record_is_that_old) {
    auto s = counted::open(name(), omstream::size = 5, omstream::max_wait = 2s);
    s.append(1);
    manual_clock::advance(1s);
    s.append(2);
    manual_clock::advance(1s - 1ns);  // the first record is just short of 2 s old
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1, 2}}));

    // The clock starts again with the next first pending record.
    s.append(3);
    manual_clock::advance(1999ms);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ms);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{3}}));
}

TEST_F(emitter_count, max_wait_does_not_hold_back_full_windows) {
    auto s = counted::open(name(), omstream::size = 2, omstream::max_wait = 1h);
    s.append(std::vector<int>{1, 2, 3});
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{1, 2}}));
    manual_clock::advance(1h);
    EXPECT_EQ(drain(s), (std::vector<std::vector<int>>{{3}}));
}

// The first record's time plus max_wait is past what the clock holds: the
// deadline saturates instead of wrapping into the past.
TEST_F(emitter_count, a_max_wait_too_long_to_reach_never_delivers_the_partial_window) {
    using years = std::chrono::years;
    for (const std::chrono::nanoseconds too_long :
         {std::chrono::nanoseconds::max(), std::chrono::nanoseconds(years(250))}) {
        omstream::memory<int>::remove(name());
        auto s = counted::open(name(), omstream::size = 10, omstream::max_wait = too_long);
        s.append(1);
        manual_clock::advance(1ms);
        EXPECT_TRUE(drain(s).empty()) << "max_wait " << too_long.count() << " ns";
        manual_clock::advance(years(10));
        EXPECT_TRUE(drain(s).empty()) << "max_wait " << too_long.count() << " ns";
        s.append(std::vector<int>(9, 2));
        EXPECT_EQ(drain(s).size(), 1u) << "a full window still goes out";
    }
}

TEST_F(emitter_count, apply_delivers_the_same_windows) {
    auto s = counted::open(name(), omstream::size = 2);
    for (int i = 0; i < 6; ++i)
        s.append(i);
    std::vector<std::vector<int>> windows;
    s.apply([&](const omstream::window<int>& w) {
        windows.emplace_back(w.begin(), w.end());
        if (windows.size() == 3)
            s.stop();
    });
    EXPECT_EQ(windows, (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {4, 5}}));
}

TEST_F(emitter_count, size_0_is_refused) {
    try {
        (void)counted::open(name(), omstream::size = 0);
        FAIL() << "size 0 accepted";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
        EXPECT_EQ(e.code(), omstream::errc::invalid_option);
    }
}

TEST_F(emitter_count, negative_max_wait_is_refused) {
    try {
        (void)counted::open(name(), omstream::max_wait = -1s);
        FAIL() << "negative max_wait accepted";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
    }
}

}  // namespace
