// memory<T> specifics: the process-wide registry and retention (keep,
// max_age). What every storage must do is in the conformance suite.
#include <omstream/stream.hpp>

#include "support/view_noting_window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace om = omstream;
using namespace std::chrono_literals;

namespace {

using manual_stream = om::stream<om::memory<int>, om::basic_count_window<om::manual_clock>>;

TEST(storage_memory, streams_are_named_in_a_process_wide_registry) {
    om::memory<int>::remove("mem-registry");
    auto a = om::stream<om::memory<int>>::open("mem-registry");
    auto b = om::stream<om::memory<int>>::open("mem-registry");
    a.append(1);
    EXPECT_EQ(b.metadata().appended, 1u);
    const auto names = om::memory<int>::list();
    EXPECT_NE(std::find(names.begin(), names.end(), "mem-registry"), names.end());
    EXPECT_TRUE(om::memory<int>::remove("mem-registry"));
    EXPECT_FALSE(om::memory<int>::remove("mem-registry"));
    // A handle keeps a removed stream alive; a new open starts afresh.
    a.append(2);
    EXPECT_EQ(b.metadata().appended, 2u);
    auto c = om::stream<om::memory<int>>::open("mem-registry");
    EXPECT_EQ(c.metadata().appended, 0u);
    EXPECT_EQ(c.metadata().kind, "stream.memory");
    om::memory<int>::remove("mem-registry");
}

TEST(storage_memory, records_wait_for_the_first_consumer) {
    om::memory<int>::remove("mem-early");
    auto producer = om::stream<om::memory<int>>::open("mem-early");
    for (int i = 0; i < 3; ++i)
        producer.append(i);
    auto consumer = om::stream<om::memory<int>>::open("mem-early", om::size = 3);
    std::vector<int> got;
    ASSERT_TRUE(consumer.poll([&](const om::window<int>& w) { got.assign(w.begin(), w.end()); }));
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
    om::memory<int>::remove("mem-early");
}

TEST(storage_memory, processed_records_are_released_unless_kept) {
    for (const bool keep : {false, true}) {
        const std::string name = keep ? "mem-keep" : "mem-release";
        om::memory<int>::remove(name);
        auto s = om::stream<om::memory<int>>::open(name, om::size = 2, om::keep = keep);
        for (int i = 0; i < 5; ++i)
            s.append(i);
        while (s.poll([](const auto&) {})) {
        }
        const auto entries = s.buffer();
        if (keep) {
            ASSERT_EQ(entries.size(), 5u);
            EXPECT_TRUE(entries[0].processed);
        } else {
            ASSERT_EQ(entries.size(), 1u);  // minibatch's keep=False: only the unprocessed record
            EXPECT_EQ(entries[0].data, 4);
            EXPECT_FALSE(entries[0].processed);
        }
        om::memory<int>::remove(name);
    }
}

TEST(storage_memory, released_chunks_are_reused_and_memory_stays_bounded) {
    om::memory<std::uint64_t>::remove("mem-reuse");
    auto s = om::stream<om::memory<std::uint64_t>>::open("mem-reuse", om::size = 1000);
    std::vector<std::uint64_t> batch(1000);
    std::uint64_t expected = 0;
    for (int round = 0; round < 300; ++round) {  // 300k records, ~10 MB of frames in all
        for (auto& v : batch)
            v = expected + (&v - batch.data());
        s.append(batch);
        ASSERT_TRUE(s.poll([&](const om::window<std::uint64_t>& w) {
            for (auto v : w)
                ASSERT_EQ(v, expected++);
        }));
        EXPECT_LE(s.metadata().retained, 70'000u);  // at most about two 1 MiB chunks
    }
    om::memory<std::uint64_t>::remove("mem-reuse");
}

// A group far behind sees its backlog in parts: its emitter's first view is
// the first 65,536 records, not all 300,000, so that a poll costs what its
// window needs (before, the first poll scanned the whole backlog, about 3 ns
// a record, and every poll built spans over all its chunks). Reading on, it
// gets every record once, in order.
TEST(storage_memory, a_group_far_behind_sees_its_backlog_in_parts) {
    using noting = om::testing::view_noting_window;
    om::memory<std::uint64_t>::remove("mem-far-behind");
    auto s = om::stream<om::memory<std::uint64_t>, noting>::open("mem-far-behind");
    EXPECT_FALSE(s.poll([](const auto&) {}));  // joins before the appends
    constexpr std::uint64_t n = 300'000;
    std::vector<std::uint64_t> batch(1000);
    for (std::uint64_t i = 0; i < n; i += batch.size()) {
        for (std::size_t k = 0; k < batch.size(); ++k)
            batch[k] = i + k;
        s.append(batch);
    }
    noting::views.clear();
    std::uint64_t expected = 0;
    bool in_order = true;
    while (s.poll([&](const auto& w) {
        for (auto v : w)
            in_order = in_order && v == expected++;
    })) {
    }
    ASSERT_FALSE(noting::views.empty());
    EXPECT_EQ(noting::views.front(), om::detail::first_view_records);
    EXPECT_TRUE(in_order);
    EXPECT_EQ(expected, n);
    om::memory<std::uint64_t>::remove("mem-far-behind");
}

// max_age holds for a backlog seen in parts: records scanned after the first
// view are checked for age too before the emitter sees them.
TEST(storage_memory, max_age_drops_old_records_beyond_the_first_view) {
    om::manual_clock::set(om::manual_clock::time_point(1000s));
    om::memory<int>::remove("mem-age-far");
    auto s = manual_stream::open("mem-age-far", om::max_age = 10s, om::size = 1);
    EXPECT_FALSE(s.poll([](const auto&) {}));  // joins before the appends
    std::vector<int> batch(1000);
    for (int i = 0; i < 200'000; i += 1000) {
        for (int k = 0; k < 1000; ++k)
            batch[static_cast<std::size_t>(k)] = i + k;
        s.append(batch);
    }
    om::manual_clock::advance(20s);  // the 200,000 are 20 s old now
    s.append(-1);
    std::vector<int> got;
    while (s.poll([&](const om::window<int>& w) { got.insert(got.end(), w.begin(), w.end()); })) {
    }
    EXPECT_EQ(got, std::vector<int>{-1});
    EXPECT_EQ(s.metadata().groups.at(0).expired, 200'000u);
    om::memory<int>::remove("mem-age-far");
}

// Without keep, what every group has processed is gone: a group that
// joins later does not get it, and metadata does not count it as retained
// (it stays in memory only until its chunk is released).
TEST(storage_memory, without_keep_a_later_group_never_gets_what_every_group_processed) {
    using ints = om::stream<om::memory<int>>;
    om::memory<int>::remove("mem-release");
    auto first = ints::open("mem-release", om::size = 1, om::group = "first");
    for (int i = 1; i <= 5; ++i)
        first.append(i);
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(first.poll([](const om::window<int>&) {}));  // processes 1..4
    const auto md = first.metadata();
    EXPECT_EQ(md.first_seq, 4u);
    EXPECT_EQ(md.retained, 1u);
    ASSERT_EQ(first.buffer().size(), 1u);
    auto later = ints::open("mem-release", om::size = 1, om::group = "later");
    std::vector<int> got;
    while (later.poll([&](const om::window<int>& w) { got.push_back(w[0]); })) {
    }
    EXPECT_EQ(got, (std::vector<int>{5}));
    om::memory<int>::remove("mem-release");
}

TEST(storage_memory, max_age_drops_older_records) {
    om::manual_clock::set(om::manual_clock::time_point(1000s));
    om::memory<int>::remove("mem-age");
    auto s = manual_stream::open("mem-age", om::max_age = 10s, om::size = 1);
    s.append(1);
    om::manual_clock::advance(5s);
    s.append(2);
    om::manual_clock::advance(7s);  // record 1 is now 12 s old, record 2 is 7 s old
    std::vector<int> got;
    while (s.poll([&](const om::window<int>& w) { got.insert(got.end(), w.begin(), w.end()); })) {
    }
    EXPECT_EQ(got, (std::vector<int>{2}));
    EXPECT_EQ(s.metadata().groups.at(0).expired, 1u);
    om::memory<int>::remove("mem-age");
}

TEST(storage_memory, invalid_option_values_are_refused) {
    EXPECT_THROW((void)om::stream<om::memory<int>>::open("mem-bad", om::max_record_size = 0),
                 om::error);
    EXPECT_THROW(
        (void)om::stream<om::memory<int>>::open("mem-bad2", om::size = 0).poll([](const auto&) {}),
        om::error);
    try {
        (void)om::stream<om::memory<int>>::open("mem-bad3", om::group = "no/slash");
        FAIL();
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::invalid_name);
        // It is the group's name that is wrong, not the stream's.
        EXPECT_EQ(std::string(e.what()).rfind("group name 'no/slash' contains", 0), 0u) << e.what();
    }
}

}  // namespace
