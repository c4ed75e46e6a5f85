// The storage conformance suite: one typed GoogleTest suite that every
// storage runs. A storage joins by providing a family type with
//   template <class T> using type = <storage of T>;
//   static constexpr const char* name;
//   static void remove(const std::string& stream);   // forget a stream
// and adding it to the list in storage_conformance.cpp. The tests use only
// the public stream API, so what passes here holds for every storage.
#pragma once

#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace omstream::testing {

struct named_record {
    BOOST_HANA_DEFINE_STRUCT(named_record, (std::string, name), (std::int64_t, value));
};

template <class Family>
class storage_suite : public ::testing::Test {
  protected:
    template <class T>
    using storage = typename Family::template type<T>;

    // A name no other test uses, removed again when the test ends.
    std::string fresh(const std::string& what = "s") {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string("conf-") + Family::name + "-" + info->name() + "-" + what;
        std::replace(name.begin(), name.end(), '/', '-');
        Family::remove(name);
        names_.push_back(name);
        return name;
    }
    void TearDown() override {
        for (const auto& n : names_)
            Family::remove(n);
    }

    template <class T, class Emitter = count_window, class... Options>
    static auto open(const std::string& name, option_value<Options>... options) {
        return stream<storage<T>, Emitter>::open(name, options...);
    }

    // Every record the consumer can get now, window by window.
    template <class Stream>
    static std::vector<std::vector<typename Stream::record_type>> drain(Stream& s) {
        std::vector<std::vector<typename Stream::record_type>> windows;
        while (s.poll([&](const auto& w) { windows.emplace_back(w.begin(), w.end()); })) {
        }
        return windows;
    }

  private:
    std::vector<std::string> names_;
};

TYPED_TEST_SUITE_P(storage_suite);

TYPED_TEST_P(storage_suite, open_creates_then_attaches) {
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(name);
    producer.append(7u);
    auto consumer = this->template open<std::uint64_t>(name);
    const auto windows = this->drain(consumer);
    ASSERT_EQ(windows.size(), 1u);
    EXPECT_EQ(windows[0][0], 7u);
    EXPECT_EQ(consumer.metadata().name, name);
}

TYPED_TEST_P(storage_suite, sequence_numbers_are_dense_and_created_is_stamped) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name, omstream::size = 5);
    const auto before = std::chrono::system_clock::now();
    for (std::uint64_t i = 0; i < 5; ++i)
        s.append(i * 10);
    const auto after = std::chrono::system_clock::now();
    std::vector<std::uint64_t> seqs;
    ASSERT_TRUE(s.poll([&](const window<std::uint64_t>& w) {
        for (auto e : w.entries()) {
            seqs.push_back(e.seq());
            EXPECT_EQ(e.data(), e.seq() * 10);
            EXPECT_GE(e.created(), before);
            EXPECT_LE(e.created(), after);
        }
    }));
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
}

TYPED_TEST_P(storage_suite, variable_length_records_round_trip) {
    const auto name = this->fresh("strings");
    auto s = this->template open<std::string>(name, omstream::size = 3);
    const std::vector<std::string> input{"", "a", std::string(1000, 'x')};
    s.append(input);
    const auto windows = this->drain(s);
    ASSERT_EQ(windows.size(), 1u);
    EXPECT_EQ(windows[0], input);

    const auto name2 = this->fresh("structs");
    auto r = this->template open<named_record>(name2, omstream::size = 2);
    r.append(named_record{"alpha", 1});
    r.append(named_record{std::string(300, 'b'), -2});
    const auto got = this->drain(r);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0][0].name, "alpha");
    EXPECT_EQ(got[0][1].name, std::string(300, 'b'));
    EXPECT_EQ(got[0][1].value, -2);
}

TYPED_TEST_P(storage_suite, batch_append_is_published_at_once_and_in_order) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name, omstream::size = 1000);
    std::vector<std::uint64_t> batch(1000);
    for (std::uint64_t i = 0; i < batch.size(); ++i)
        batch[i] = i;
    s.append(batch);
    const auto windows = this->drain(s);
    ASSERT_EQ(windows.size(), 1u);
    EXPECT_EQ(windows[0], batch);
}

TYPED_TEST_P(storage_suite, buffer_shows_entries_and_processed_flags) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name, omstream::size = 2, omstream::group = "fast");
    auto slow = this->template open<std::uint64_t>(name, omstream::group = "slow");
    (void)slow.poll(
        [](const auto&) { FAIL() << "nothing appended yet"; });  // joins; holds records back
    for (std::uint64_t i = 0; i < 3; ++i)
        s.append(i);
    ASSERT_TRUE(s.poll([](const auto&) {}));
    const auto entries = s.buffer();
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_TRUE(entries[0].processed);
    EXPECT_TRUE(entries[1].processed);
    EXPECT_FALSE(entries[2].processed);
    EXPECT_EQ(entries[2].data, 2u);
    EXPECT_EQ(entries[2].seq, 2u);
    EXPECT_GT(entries[2].created_ns, 0);
    for (const auto& e : slow.buffer())
        EXPECT_FALSE(e.processed);  // relative to the group (S10)
}

TYPED_TEST_P(storage_suite, metadata_names_the_stream_type_and_groups) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name, omstream::size = 2, omstream::group = "risk");
    for (std::uint64_t i = 0; i < 5; ++i)
        s.append(i);
    while (s.poll([](const auto&) {})) {
    }
    const auto m = s.metadata();
    EXPECT_EQ(m.name, name);
    EXPECT_EQ(m.kind, std::string(TypeParam::template type<std::uint64_t>::kind));
    EXPECT_NE(m.record_type.find("std::uint64_t"), std::string::npos) << m.record_type;
    EXPECT_EQ(m.fingerprint, record_traits<std::uint64_t>::fingerprint());
    EXPECT_EQ(m.appended, 5u);
    EXPECT_GT(m.created_ns, 0);
    ASSERT_EQ(m.groups.size(), 1u);
    EXPECT_EQ(m.groups[0].name, "risk");
    EXPECT_EQ(m.groups[0].position, 4u);
    EXPECT_EQ(m.groups[0].committed, 4u);
    EXPECT_EQ(m.groups[0].windows, 2u);
}

TYPED_TEST_P(storage_suite, another_record_type_is_refused_naming_both) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name);
    try {
        (void)this->template open<std::string>(name);
        FAIL() << "opening with another record type must fail";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code(), errc::type_mismatch);
        EXPECT_NE(std::string(e.what()).find("std::uint64_t"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("std::string"), std::string::npos) << e.what();
    }
}

TYPED_TEST_P(storage_suite, invalid_names_are_refused) {
    const std::string too_long(201, 'a');
    for (const std::string& bad :
         {std::string(), std::string(".hidden"), std::string("a/b"), std::string("../escape"),
          std::string("sp ace"), std::string("tab\t"), std::string("nul\0x", 5), std::string("ünï"),
          std::string("a*b"), too_long}) {
        try {
            (void)this->template open<int>(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code(), errc::invalid_name) << bad;
        }
    }
    const std::string longest(200, 'n');
    EXPECT_NO_THROW((void)this->template open<int>(longest));
    TypeParam::remove(longest);

    // Group names: refused at open, before the stream is created, not at the
    // first poll; a storage that keeps them in fixed slots holds them shorter.
    using stream_type = stream<typename TestFixture::template storage<int>>;
    std::size_t group_max = 200;
    if constexpr (requires { stream_type::storage_type::max_group_name_length; })
        group_max = stream_type::storage_type::max_group_name_length;
    const auto name = this->fresh();
    for (const std::string& bad :
         {std::string(group_max + 1, 'g'), std::string(".g"), std::string("g/h"), std::string()}) {
        try {
            (void)this->template open<int>(name, omstream::group = bad);
            ADD_FAILURE() << "accepted group '" << bad << "'";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code(), errc::invalid_name) << bad;
            EXPECT_NE(std::string(e.what()).find("group name"), std::string::npos) << e.what();
        }
    }
    auto longest_group =
        this->template open<int>(name, omstream::group = std::string(group_max, 'g'));
    EXPECT_FALSE(longest_group.poll([](const auto&) {}));  // joins
}

TYPED_TEST_P(storage_suite, a_record_over_the_maximum_size_is_refused) {
    const auto name = this->fresh();
    auto s = this->template open<std::string>(name, omstream::max_record_size = 100);
    EXPECT_NO_THROW(s.append(std::string(100, 'a')));
    try {
        s.append(std::string(101, 'a'));
        FAIL() << "a record over max_record_size must be refused";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code(), errc::record_too_large);
        EXPECT_NE(std::string(e.what()).find("max_record_size"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s.metadata().appended, 1u);  // nothing half-written
}

TYPED_TEST_P(storage_suite, a_throwing_callback_commits_nothing_and_records_come_again) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name, omstream::size = 2);
    for (std::uint64_t i = 0; i < 4; ++i)
        s.append(i);
    std::vector<std::uint64_t> first_try;
    EXPECT_THROW(s.poll([&](const window<std::uint64_t>& w) {
        first_try.assign(w.begin(), w.end());
        throw std::runtime_error("callback failed");
    }),
                 std::runtime_error);
    std::vector<std::uint64_t> second_try;
    ASSERT_TRUE(
        s.poll([&](const window<std::uint64_t>& w) { second_try.assign(w.begin(), w.end()); }));
    EXPECT_EQ(first_try, (std::vector<std::uint64_t>{0, 1}));
    EXPECT_EQ(second_try, first_try);
    const auto rest = this->drain(s);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0], (std::vector<std::uint64_t>{2, 3}));
}

TYPED_TEST_P(storage_suite, every_group_sees_every_record) {
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(name);
    auto a = this->template open<std::uint64_t>(name, omstream::group = "a", omstream::size = 3);
    auto b = this->template open<std::uint64_t>(name, omstream::group = "b", omstream::size = 2);
    (void)a.poll([](const auto&) {});  // join before the appends
    (void)b.poll([](const auto&) {});
    for (std::uint64_t i = 0; i < 6; ++i)
        producer.append(i);
    auto flat = [](const auto& windows) {
        std::vector<std::uint64_t> all;
        for (const auto& w : windows)
            all.insert(all.end(), w.begin(), w.end());
        return all;
    };
    const std::vector<std::uint64_t> expected{0, 1, 2, 3, 4, 5};
    EXPECT_EQ(flat(this->drain(a)), expected);
    EXPECT_EQ(flat(this->drain(b)), expected);
}

TYPED_TEST_P(storage_suite, members_of_a_group_share_its_position) {
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(name);
    auto m1 = this->template open<std::uint64_t>(name, omstream::group = "g", omstream::size = 2);
    auto m2 = this->template open<std::uint64_t>(name, omstream::group = "g", omstream::size = 2);
    for (std::uint64_t i = 0; i < 4; ++i)
        producer.append(i);
    std::vector<std::uint64_t> got1, got2;
    ASSERT_TRUE(m1.poll([&](const auto& w) { got1.assign(w.begin(), w.end()); }));
    ASSERT_TRUE(m2.poll([&](const auto& w) { got2.assign(w.begin(), w.end()); }));
    EXPECT_FALSE(m1.poll([](const auto&) {}));
    EXPECT_EQ(got1, (std::vector<std::uint64_t>{0, 1}));
    EXPECT_EQ(got2, (std::vector<std::uint64_t>{2, 3}));
}

TYPED_TEST_P(storage_suite, many_producers_keep_their_order) {
    const auto name = this->fresh();
    constexpr int producers = 4;
    constexpr std::uint64_t per_producer = 20'000;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            auto s = this->template open<std::uint64_t>(name);
            for (std::uint64_t i = 0; i < per_producer; ++i)
                s.append((std::uint64_t(p) << 32) | i);
        });
    }
    auto consumer = this->template open<std::uint64_t>(name, omstream::size = 100);
    std::vector<std::uint64_t> next(producers, 0);
    std::uint64_t seen = 0;
    while (seen < producers * per_producer) {
        (void)consumer.poll([&](const window<std::uint64_t>& w) {
            for (std::uint64_t v : w) {
                const auto p = v >> 32;
                ASSERT_EQ(v & 0xffffffffu, next[p]) << "producer " << p << " out of order";
                ++next[p];
                ++seen;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(seen, producers * per_producer);
}

TYPED_TEST_P(storage_suite, consumers_of_one_group_see_each_record_exactly_once) {
    const auto name = this->fresh();
    constexpr std::uint64_t total = 1'000'000;
    constexpr int consumers = 4;
    std::atomic<std::uint64_t> delivered{0};
    std::vector<std::vector<std::uint64_t>> seen(consumers);
    {
        std::vector<std::jthread> threads;
        for (int c = 0; c < consumers; ++c) {
            threads.emplace_back([&, c](std::stop_token stop) {
                auto s = this->template open<std::uint64_t>(name, omstream::size = 50);
                s.apply(
                    [&](const window<std::uint64_t>& w) {
                        seen[c].insert(seen[c].end(), w.begin(), w.end());
                        delivered += w.size();
                    },
                    stop);
            });
        }
        auto producer = this->template open<std::uint64_t>(name);
        std::vector<std::uint64_t> batch(1000);
        for (std::uint64_t base = 0; base < total; base += batch.size()) {
            for (std::uint64_t i = 0; i < batch.size(); ++i)
                batch[i] = base + i;
            producer.append(batch);
        }
        while (delivered.load() < total)
            std::this_thread::yield();
    }  // jthreads request stop and join
    std::vector<std::uint64_t> all;
    for (const auto& v : seen)
        all.insert(all.end(), v.begin(), v.end());
    ASSERT_EQ(all.size(), total);
    std::sort(all.begin(), all.end());
    for (std::uint64_t i = 0; i < total; ++i)
        ASSERT_EQ(all[i], i);
}

TYPED_TEST_P(storage_suite, stop_ends_a_blocked_apply_promptly) {
    const auto name = this->fresh();
    auto s = this->template open<std::uint64_t>(name);
    std::atomic<bool> running{false};
    std::chrono::steady_clock::time_point stopped_at;
    std::thread consumer([&] {
        running = true;
        s.apply([](const auto&) {});
    });
    while (!running)
        std::this_thread::yield();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20));  // let it fall asleep (not a timing check)
    stopped_at = std::chrono::steady_clock::now();
    s.stop();
    consumer.join();
    // The requirement is 10 ms; the bound is generous for a loaded machine.
    EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, std::chrono::seconds(2));

    auto t = this->template open<std::uint64_t>(name);
    std::stop_source source;
    std::thread other([&] { t.apply([](const auto&) {}, source.get_token()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto requested = std::chrono::steady_clock::now();
    source.request_stop();
    other.join();
    EXPECT_LT(std::chrono::steady_clock::now() - requested, std::chrono::seconds(2));
}

TYPED_TEST_P(storage_suite, a_full_bounded_stream_makes_producers_wait_or_refuse) {
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(
        name, omstream::capacity = 4, omstream::timeout = std::chrono::milliseconds(50));
    auto consumer = this->template open<std::uint64_t>(name, omstream::size = 2);
    (void)consumer.poll([](const auto&) {});  // join: its group now holds records back
    for (std::uint64_t i = 0; i < 4; ++i)
        EXPECT_TRUE(producer.try_append(i));
    EXPECT_FALSE(producer.try_append(99));
    try {
        producer.append(99);
        FAIL() << "append on a full stream must time out";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code(), errc::full);
    }
    ASSERT_TRUE(consumer.poll([](const auto&) {}));
    EXPECT_TRUE(producer.try_append(4));
    // Nothing was overwritten or lost (S13).
    std::vector<std::uint64_t> got;
    while (consumer.poll([&](const auto& w) { got.insert(got.end(), w.begin(), w.end()); })) {
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(consumer.buffer().size(), 1u);  // record 4 waits for a partner
}

TYPED_TEST_P(storage_suite, a_waiting_producer_resumes_when_consumers_catch_up) {
    const auto name = this->fresh();
    auto consumer =
        this->template open<std::uint64_t>(name, omstream::size = 1, omstream::capacity = 8);
    (void)consumer.poll([](const auto&) {});
    constexpr std::uint64_t total = 2000;
    std::thread producer([&] {
        auto p = this->template open<std::uint64_t>(name);
        for (std::uint64_t i = 0; i < total; ++i)
            p.append(i);
    });
    std::uint64_t expected = 0;
    while (expected < total) {
        (void)consumer.poll([&](const window<std::uint64_t>& w) {
            for (auto v : w)
                ASSERT_EQ(v, expected++);
        });
    }
    producer.join();
}

// A window larger than the bound could never fill: producers would wait for
// the group and the group for them. The consumer is told at once.
TYPED_TEST_P(storage_suite, a_window_larger_than_the_capacity_is_refused_not_waited_on) {
    const auto name = this->fresh();
    auto consumer =
        this->template open<std::uint64_t>(name, omstream::size = 9, omstream::capacity = 8);
    auto expect_refused = [&](auto&& consume) {
        try {
            consume();
            FAIL() << "a count_window of 9 over a capacity of 8 must be refused";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code(), errc::invalid_option);
            const std::string what = e.what();
            EXPECT_NE(what.find("waits for 9 records"), std::string::npos) << what;
            EXPECT_NE(what.find("at most 8 unprocessed"), std::string::npos) << what;
        }
    };
    expect_refused([&] { (void)consumer.poll([](const auto&) {}); });
    // apply() throws too rather than sleeping; should it sleep, the watchdog
    // ends it and the test fails instead of hanging.
    std::atomic<bool> returned{false};
    std::thread watchdog([&] {
        for (int i = 0; i < 500 && !returned.load(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        consumer.stop();
    });
    expect_refused([&] { consumer.apply([](const auto&) {}); });
    returned = true;
    watchdog.join();
    // A window that fits exactly, and a larger one with a deadline, still work.
    auto exact =
        this->template open<std::uint64_t>(name, omstream::size = 8, omstream::group = "exact");
    (void)exact.poll([](const auto&) {});
    auto timed = this->template open<std::uint64_t>(name, omstream::size = 9,
                                                    omstream::max_wait = std::chrono::hours(1),
                                                    omstream::group = "timed");
    (void)timed.poll([](const auto&) {});
    auto producer = this->template open<std::uint64_t>(name);
    for (std::uint64_t i = 0; i < 8; ++i)
        ASSERT_TRUE(producer.try_append(i));
    std::size_t got = 0;
    ASSERT_TRUE(exact.poll([&](const auto& w) { got = w.size(); }));
    EXPECT_EQ(got, 8u);
    EXPECT_FALSE(timed.poll([](const auto&) {}));  // waits for its deadline, refused nothing
}

// A group nobody consumes in any more would hold records back for good:
// removing it lets producers go on, and its name then starts a new group.
TYPED_TEST_P(storage_suite, a_removed_group_holds_nothing_back_and_its_name_starts_afresh) {
    using storage_type = typename TestFixture::template storage<std::uint64_t>;
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(name, omstream::capacity = 4);
    auto live = this->template open<std::uint64_t>(name, omstream::group = "live");
    (void)live.poll([](const auto&) {});
    auto group_names = [&] {
        std::vector<std::string> names;
        for (const auto& g : producer.metadata().groups)
            names.push_back(g.name);
        std::sort(names.begin(), names.end());
        return names;
    };
    {
        auto gone = this->template open<std::uint64_t>(name, omstream::group = "gone");
        (void)gone.poll([](const auto&) {});  // joins, processes nothing
        for (std::uint64_t i = 0; i < 4; ++i)
            ASSERT_TRUE(producer.try_append(i));
        // While a handle consumes in it, the group stays.
        try {
            (void)storage_type::remove_group(name, "gone");
            ADD_FAILURE() << "removed a group with an open handle";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code(), errc::in_use);
            EXPECT_NE(std::string(e.what()).find("'gone'"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(this->drain(live).size(), 4u);
    EXPECT_FALSE(producer.try_append(4));  // "gone" holds them, though nobody consumes there
    EXPECT_EQ(group_names(), (std::vector<std::string>{"gone", "live"}));

    EXPECT_TRUE(storage_type::remove_group(name, "gone"));
    EXPECT_EQ(group_names(), (std::vector<std::string>{"live"}));
    EXPECT_TRUE(producer.try_append(4));
    EXPECT_FALSE(storage_type::remove_group(name, "gone"));  // no such group any more
    EXPECT_FALSE(storage_type::remove_group(name, "never"));
    EXPECT_FALSE(storage_type::remove_group(name + "-absent", "gone"));  // no such stream
    EXPECT_THROW((void)storage_type::remove_group(name, "../g"), omstream::error);

    // The name starts a new group, which gets what is appended from now on.
    auto again = this->template open<std::uint64_t>(name, omstream::group = "gone");
    std::vector<std::uint64_t> got;
    auto take = [&](const auto& w) { got.insert(got.end(), w.begin(), w.end()); };
    (void)again.poll(take);
    ASSERT_TRUE(producer.try_append(5));
    while (again.poll(take)) {
    }
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back(), 5u);
}

// A group keeps its emitter's state for every consumer of it: a consumer
// with another emitter type would misread it (a time window reading a count
// window's state as a start in 1970), so it is refused; the two time windows
// share their state and may take over each other's group.
struct identity_clock_tag {};
using identity_clock = basic_manual_clock<identity_clock_tag>;

TYPED_TEST_P(storage_suite, a_group_is_refused_to_a_consumer_with_another_emitter_type) {
    using namespace std::chrono_literals;
    const auto name = this->fresh();
    identity_clock::set(identity_clock::time_point(1000s));
    auto counting = this->template open<std::uint64_t, basic_count_window<identity_clock>>(
        name, omstream::group = "counted");
    (void)counting.poll([](const auto&) {});  // joins: the group is a count window's
    auto timed = this->template open<std::uint64_t, basic_fixed_time_window<identity_clock>>(
        name, omstream::group = "counted");
    try {
        (void)timed.poll([](const auto&) {});
        ADD_FAILURE() << "a fixed time window consumed a count window's group";
    } catch (const omstream::error& e) {
        EXPECT_EQ(e.code(), errc::type_mismatch) << e.what();
        EXPECT_NE(std::string(e.what()).find("group 'counted'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("fixed_time_window"), std::string::npos) << e.what();
    }
    // Fixed and relaxed windows share a group; a count window may not join it.
    auto fixed = this->template open<std::uint64_t, basic_fixed_time_window<identity_clock>>(
        name, omstream::group = "timed");
    (void)fixed.poll([](const auto&) {});
    auto relaxed = this->template open<std::uint64_t, basic_relaxed_time_window<identity_clock>>(
        name, omstream::group = "timed");
    EXPECT_NO_THROW((void)relaxed.poll([](const auto&) {}));
    auto counting_too = this->template open<std::uint64_t, basic_count_window<identity_clock>>(
        name, omstream::group = "timed");
    EXPECT_THROW((void)counting_too.poll([](const auto&) {}), omstream::error);
}

// Consumers answer repeated polls from what the emitter last said (without
// asking it again) while nothing changes: a new record, or the emitter's
// deadline, must still be noticed at once.
struct idle_clock_tag {};
using idle_clock = basic_manual_clock<idle_clock_tag>;

TYPED_TEST_P(storage_suite, idle_polls_notice_a_new_record_and_the_deadline_at_once) {
    using namespace std::chrono_literals;
    const auto name = this->fresh();
    idle_clock::set(idle_clock::time_point(1000s));
    auto s = this->template open<std::uint64_t, basic_count_window<idle_clock>>(
        name, omstream::size = 4, omstream::max_wait = 1s);
    std::vector<std::size_t> sizes;
    auto fn = [&](const window<std::uint64_t>& w) { sizes.push_back(w.size()); };
    auto idle = [&] {
        for (int i = 0; i < 20; ++i)
            ASSERT_FALSE(s.poll(fn)) << "poll " << i;
    };
    for (std::uint64_t i = 0; i < 3; ++i)
        s.append(i);
    idle();
    s.append(3);
    EXPECT_TRUE(s.poll(fn)) << "the fourth record completes the window";
    s.append(4);
    idle();
    idle_clock::advance(999ms);
    idle();
    idle_clock::advance(1ms);
    EXPECT_TRUE(s.poll(fn)) << "max_wait has passed for the partial window";
    EXPECT_EQ(sizes, (std::vector<std::size_t>{4, 1}));
}

// apply() sleeps until the emitter's deadline even when the last answers
// came from the idle shortcut above (real clock; the guard only stops a hang).
TYPED_TEST_P(storage_suite, apply_wakes_for_the_deadline_after_idle_polls) {
    using namespace std::chrono_literals;
    const auto name = this->fresh();
    auto s =
        this->template open<std::uint64_t>(name, omstream::size = 4, omstream::max_wait = 200ms);
    // A partial window must still be waiting when apply() starts: the polls
    // take microseconds, but a stalled machine may pass max_wait, and then
    // we try again with a new record.
    for (int attempt = 0;; ++attempt) {
        ASSERT_LT(attempt, 10) << "the machine kept stalling past max_wait";
        s.append(7);
        bool early = false;
        for (int i = 0; i < 20; ++i)
            early = s.poll([](const auto&) {}) || early;
        if (!early)
            break;
    }
    std::atomic<bool> delivered{false};
    std::jthread guard([&](std::stop_token st) {
        const auto give_up = std::chrono::steady_clock::now() + 20s;
        while (!st.stop_requested() && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
        s.stop();
    });
    s.apply([&](const window<std::uint64_t>& w) {
        delivered = w.size() == 1;
        s.stop();
    });
    EXPECT_TRUE(delivered) << "apply() slept past the max_wait deadline";
}

// A count window waits for `size - pending` more records (decision::more),
// and polls in between watch only the record that completes it: the window
// still comes with its last record, for fixed- and variable-size records.
TYPED_TEST_P(storage_suite, a_window_comes_with_its_last_record_while_polls_watch_ahead) {
    auto check = [&]<class T>(T (*make)(std::uint64_t)) {
        const auto name = this->fresh();
        auto s = this->template open<T>(name, omstream::size = 8);
        std::size_t windows = 0;
        for (std::uint64_t i = 0; i < 40; ++i) {
            ASSERT_FALSE(s.poll([](const auto&) {})) << "record " << i;
            ASSERT_FALSE(s.poll([](const auto&) {})) << "record " << i;
            s.append(make(i));
            if (i % 8 == 7) {
                ASSERT_TRUE(s.poll([&](const window<T>& w) {
                    EXPECT_EQ(w.size(), 8u);
                    EXPECT_EQ(w.first_seq(), i - 7);
                    ++windows;
                })) << "record "
                    << i << " completes a window";
            }
        }
        EXPECT_EQ(windows, 5u);
    };
    check(+[](std::uint64_t i) { return i; });
    check(+[](std::uint64_t i) { return std::string(i % 5 * 10, 'x'); });
}

// A member that watches ahead still takes a window that another member of
// its group gave back (its callback threw): a group's change ends the watch.
TYPED_TEST_P(storage_suite, a_watching_member_takes_a_window_another_member_gave_back) {
    const auto name = this->fresh();
    auto producer = this->template open<std::uint64_t>(name);
    auto m1 = this->template open<std::uint64_t>(name, omstream::group = "g", omstream::size = 4);
    auto m2 = this->template open<std::uint64_t>(name, omstream::group = "g", omstream::size = 4);
    producer.append(std::vector<std::uint64_t>{0, 1, 2, 3});
    // m2 looks while m1 holds the window, so it starts watching for record 7.
    EXPECT_THROW(m1.poll([&](const auto&) {
        EXPECT_FALSE(m2.poll([](const auto&) {}));
        EXPECT_FALSE(m2.poll([](const auto&) {}));
        throw std::runtime_error("callback failed");
    }),
                 std::runtime_error);
    std::vector<std::uint64_t> got;
    ASSERT_TRUE(m2.poll([&](const auto& w) { got.assign(w.begin(), w.end()); }));
    EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 3}));
}

// A group far behind may see its backlog in parts (memory and mapped_log
// show at first 65,536 records or 1 MiB of frames): an emitter that waits for
// more, or takes the whole view, is asked again with more, so windows larger
// than a part come whole, as they would from the whole backlog at once.
TYPED_TEST_P(storage_suite, windows_larger_than_a_first_view_come_whole_to_a_group_far_behind) {
    using clock = basic_manual_clock<TypeParam>;
    using fixed = basic_fixed_time_window<clock>;
    using relaxed = basic_relaxed_time_window<clock>;
    const auto name = this->fresh();
    const auto t0 = typename clock::time_point(std::chrono::seconds(3'000'000));
    clock::set(t0);
    constexpr std::uint64_t per_interval = 100'000;
    constexpr std::uint64_t capacity = std::uint64_t{1} << 19;
    auto fixed_group = this->template open<std::uint64_t, fixed>(
        name, omstream::capacity = capacity, omstream::interval = std::chrono::seconds(1),
        omstream::group = "fixed");
    auto relaxed_group = this->template open<std::uint64_t, relaxed>(
        name, omstream::capacity = capacity, omstream::interval = std::chrono::seconds(1),
        omstream::group = "relaxed");
    auto count_group = this->template open<std::uint64_t>(
        name, omstream::capacity = capacity, omstream::size = 150'000, omstream::group = "count");
    // The first polls join the groups; the time windows' grids start at t0.
    EXPECT_FALSE(fixed_group.poll([](const auto&) {}));
    EXPECT_FALSE(relaxed_group.poll([](const auto&) {}));
    EXPECT_FALSE(count_group.poll([](const auto&) {}));
    std::vector<std::uint64_t> batch(1000);
    for (std::uint64_t i = 0; i < 3 * per_interval; i += batch.size()) {
        if (i != 0 && i % per_interval == 0)
            clock::advance(std::chrono::seconds(1));
        for (std::size_t k = 0; k < batch.size(); ++k)
            batch[k] = i + k;
        fixed_group.append(batch);
    }
    clock::advance(std::chrono::milliseconds(1500));  // t0 + 3.5 s: three intervals are over
    auto sizes_of = [](auto& s) {
        std::vector<std::size_t> sizes;
        while (s.poll([&](const auto& w) { sizes.push_back(w.size()); })) {
        }
        return sizes;
    };
    const std::vector<std::size_t> three(3, per_interval);
    EXPECT_EQ(sizes_of(fixed_group), three);
    EXPECT_EQ(sizes_of(relaxed_group), three);
    EXPECT_EQ(sizes_of(count_group), (std::vector<std::size_t>{150'000, 150'000}));
}

REGISTER_TYPED_TEST_SUITE_P(
    storage_suite, open_creates_then_attaches, sequence_numbers_are_dense_and_created_is_stamped,
    variable_length_records_round_trip, batch_append_is_published_at_once_and_in_order,
    buffer_shows_entries_and_processed_flags, metadata_names_the_stream_type_and_groups,
    another_record_type_is_refused_naming_both, invalid_names_are_refused,
    a_record_over_the_maximum_size_is_refused,
    a_throwing_callback_commits_nothing_and_records_come_again, every_group_sees_every_record,
    members_of_a_group_share_its_position, many_producers_keep_their_order,
    consumers_of_one_group_see_each_record_exactly_once, stop_ends_a_blocked_apply_promptly,
    a_full_bounded_stream_makes_producers_wait_or_refuse,
    a_waiting_producer_resumes_when_consumers_catch_up,
    a_window_larger_than_the_capacity_is_refused_not_waited_on,
    a_removed_group_holds_nothing_back_and_its_name_starts_afresh,
    a_group_is_refused_to_a_consumer_with_another_emitter_type,
    idle_polls_notice_a_new_record_and_the_deadline_at_once,
    apply_wakes_for_the_deadline_after_idle_polls,
    a_window_comes_with_its_last_record_while_polls_watch_ahead,
    a_watching_member_takes_a_window_another_member_gave_back,
    windows_larger_than_a_first_view_come_whole_to_a_group_far_behind);

}  // namespace omstream::testing
