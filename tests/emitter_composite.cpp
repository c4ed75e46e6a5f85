// first_of<E...> (DESIGN §4): "N records or I seconds, whichever comes
// first". A window as soon as any child emitter has one; when one emits, the
// others start over from now.
#include <omstream/core.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using omstream::manual_clock;
using count_or_time = omstream::first_of<omstream::basic_count_window<manual_clock>,
                                         omstream::basic_relaxed_time_window<manual_clock>>;
using composite = omstream::stream<omstream::memory<int>, count_or_time>;

const manual_clock::time_point t0{std::chrono::hours(24 * 365 * 50)};

class emitter_composite : public ::testing::Test {
  protected:
    void SetUp() override { manual_clock::set(t0); }
    void TearDown() override { omstream::memory<int>::remove(name()); }
    static std::string name() {
        return std::string("emitter-composite-") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    // 100 records or 1 s; the group starts now.
    static composite consumer() {
        auto s = composite::open(name(), omstream::size = 100, omstream::interval = 1s);
        EXPECT_FALSE(s.poll([](const auto&) {}));
        return s;
    }
    static void append(composite& producer, int first, int n) {
        std::vector<int> batch;
        for (int i = 0; i < n; ++i)
            batch.push_back(first + i);
        producer.append(batch);
    }
    static std::vector<std::size_t> drain(composite& s) {
        std::vector<std::size_t> sizes;
        while (s.poll([&](const omstream::window<int>& w) { sizes.push_back(w.size()); })) {
        }
        return sizes;
    }
};

TEST_F(emitter_composite, options_reach_every_child) {
    auto s = consumer();
    EXPECT_EQ(s.emitter().emitters[boost::hana::size_c<0>].size, 100u);
    EXPECT_EQ(s.emitter().emitters[boost::hana::size_c<1>].interval, 1s);
}

TEST_F(emitter_composite, emits_at_100_records_before_1s) {
    auto s = consumer();
    auto producer = composite::open(name());
    manual_clock::advance(200ms);
    append(producer, 0, 99);
    EXPECT_TRUE(drain(s).empty());
    producer.append(99);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{100});  // at 0.2 s, no time passing
    append(producer, 100, 250);
    EXPECT_EQ(drain(s), (std::vector<std::size_t>{100, 100}));
}

TEST_F(emitter_composite, emits_a_partial_window_at_1s_when_fewer_arrived) {
    auto s = consumer();
    auto producer = composite::open(name());
    manual_clock::advance(100ms);
    append(producer, 0, 50);
    manual_clock::advance(900ms - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{50});
    manual_clock::advance(1s);  // nothing arrived: an empty window, as relaxed_time_window
    EXPECT_EQ(drain(s), std::vector<std::size_t>{0});
}

TEST_F(emitter_composite, the_time_window_restarts_when_the_count_window_emits) {
    auto s = consumer();
    auto producer = composite::open(name());
    manual_clock::advance(500ms);
    append(producer, 0, 100);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{100});  // the interval restarts at 0.5 s
    manual_clock::advance(100ms);
    append(producer, 100, 10);
    manual_clock::advance(400ms);  // 1 s: the original interval would end here
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(500ms - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);  // 1.5 s: one interval after the count window
    EXPECT_EQ(drain(s), std::vector<std::size_t>{10});
}

TEST_F(emitter_composite, the_count_window_starts_over_when_the_time_window_emits) {
    auto s = consumer();
    auto producer = composite::open(name());
    append(producer, 0, 60);
    manual_clock::advance(1s);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{60});
    append(producer, 60, 99);  // counted from the last window: not yet 100
    EXPECT_TRUE(drain(s).empty());
    producer.append(159);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{100});
}

TEST_F(emitter_composite, every_record_once_in_order) {
    auto s = consumer();
    auto producer = composite::open(name());
    std::vector<int> all;
    int next = 0;
    for (int round = 0; round < 30; ++round) {
        const int n = (round * 37) % 130;
        append(producer, next, n);
        next += n;
        manual_clock::advance(std::chrono::milliseconds((round * 311) % 1400));
        while (s.poll([&](const omstream::window<int>& w) {
            EXPECT_LE(w.size(), 100u);
            all.insert(all.end(), w.begin(), w.end());
        })) {
        }
    }
    manual_clock::advance(2s);
    while (s.poll(
        [&](const omstream::window<int>& w) { all.insert(all.end(), w.begin(), w.end()); })) {
    }
    ASSERT_EQ(all.size(), static_cast<std::size_t>(next));
    for (int i = 0; i < next; ++i)
        ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
}

TEST_F(emitter_composite, a_bad_option_of_a_child_is_refused) {
    try {
        (void)composite::open(name(), omstream::size = 0, omstream::interval = 1s);
        FAIL() << "size 0 accepted";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code_value(), omstream::errc::invalid_option);
    }
}

}  // namespace
