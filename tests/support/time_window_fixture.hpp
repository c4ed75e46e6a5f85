// What the fixed and relaxed time-window tests share: a manual clock set to
// t0 for each test, a stream named after the test, a consumer whose group
// starts at t0, and a producer whose clock lags, to create late records.
#pragma once

#include <omstream/core.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace omstream::testing {

inline const manual_clock::time_point time_window_t0{std::chrono::hours(24 * 365 * 50)};

// Stream: the consumer's stream type; Prefix: what the stream names start with.
template <class Stream, const char* Prefix>
class time_window_fixture : public ::testing::Test {
  protected:
    // A producer whose clock lags: its records are created in the past.
    using lag_clock = basic_manual_clock<struct time_window_lag>;
    using lagging = stream<memory<int>, basic_count_window<lag_clock>>;

    void SetUp() override { manual_clock::set(time_window_t0); }
    void TearDown() override { memory<int>::remove(name()); }
    static std::string name() {
        return std::string(Prefix) +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    // Opens the consumer and starts its group now (L0 = now).
    static Stream consumer() {
        using namespace std::chrono_literals;
        auto s = Stream::open(name(), omstream::interval = 1s);
        EXPECT_FALSE(s.poll([](const auto&) {}));
        return s;
    }
    static void append_created_at(manual_clock::time_point created, int record) {
        lag_clock::set(typename lag_clock::time_point(created.time_since_epoch()));
        lagging::open(name()).append(record);
    }
};

}  // namespace omstream::testing
