// first_of<E...> (DESIGN §4): "N records or I seconds, whichever comes
// first". A window as soon as any child emitter has one; when one emits,
// every child, that one included, starts over from now.
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

// "100 records or 1 s since the last window": a time child that kept its
// grid would, polled late, replay the intervals missed meanwhile and then
// end the next interval early.
TEST_F(emitter_composite, the_time_window_starts_over_when_it_emits) {
    auto s = consumer();
    composite::open(name()).append(1);
    manual_clock::advance(5500ms);  // nobody polled for 5.5 s
    EXPECT_EQ(drain(s), std::vector<std::size_t>{1});
    manual_clock::advance(1s - 1ns);
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);  // 6.5 s: one interval after the last window
    EXPECT_EQ(drain(s), std::vector<std::size_t>{0});
    manual_clock::advance(1100ms);  // polled 0.1 s after the interval's end
    EXPECT_EQ(drain(s), std::vector<std::size_t>{0});
    manual_clock::advance(1s - 1ns);  // 8.6 s - 1 ns: not yet 1 s since 7.6 s
    EXPECT_TRUE(drain(s).empty());
    manual_clock::advance(1ns);
    EXPECT_EQ(drain(s), std::vector<std::size_t>{0});
}

// docs/emitters.md: next() may take the one record type an emitter supports.
struct pairs_of_doubles {
    using emitter_concept = omstream::emitter_tag;
    using clock_type = manual_clock;
    struct state_type {};
    using accepted_options = boost::hana::tuple<>;

    state_type start(clock_type::time_point) const { return {}; }
    omstream::decision<clock_type> next(const omstream::window<double>& pending, state_type&,
                                        clock_type::time_point) const {
        return pending.size() >= 2 ? omstream::decision<clock_type>::emit(2)
                                   : omstream::decision<clock_type>::wait();
    }
};
static_assert(!omstream::emitter<pairs_of_doubles, int>);

TEST_F(emitter_composite, a_child_whose_next_takes_one_record_type_is_accepted) {
    using pairs_or_time =
        omstream::first_of<pairs_of_doubles, omstream::basic_relaxed_time_window<manual_clock>>;
    using doubles = omstream::stream<omstream::memory<double>, pairs_or_time>;
    static_assert(omstream::check_emitter<pairs_or_time, double>());
    std::vector<std::vector<double>> windows;
    {
        auto s = doubles::open(name(), omstream::interval = 1s);
        auto take = [&] {
            while (s.poll([&](const omstream::window<double>& w) {
                windows.emplace_back(w.begin(), w.end());
            })) {
            }
        };
        take();  // the group starts now
        s.append(std::vector<double>{0.5, 1.5, 2.5});
        take();
        manual_clock::advance(1s);
        take();
    }
    omstream::memory<double>::remove(name());
    EXPECT_EQ(windows, (std::vector<std::vector<double>>{{0.5, 1.5}, {2.5}}));
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
