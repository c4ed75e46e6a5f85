// shm_ring<T> across real processes (fork): many producers and consumer
// groups, crashes by SIGKILL, and bad segments. What every storage must do
// is in the conformance suite.
#include <omstream/stream.hpp>

#include "support/processes.hpp"
#include "support/sole_producer_checks.hpp"
#include "support/stalling_record.hpp"
#include "support/throwing_record.hpp"
#include "support/wake_rounds.hpp"

#include <gtest/gtest.h>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace om = omstream;
using namespace std::chrono_literals;

namespace shm_ring_tests {

// A record whose encode() stops for good at the `stall_at`th record it
// encodes, after saying so on `stalled_fd`: a producer killed in the middle
// of writing a batch.
struct batch_stalling {
    std::uint64_t value;
    static inline int stall_at = -1;
    static inline int encoded = 0;
    static inline int stalled_fd = -1;
};

}  // namespace shm_ring_tests

template <>
struct omstream::codec<shm_ring_tests::batch_stalling> {
    using record = shm_ring_tests::batch_stalling;
    static constexpr std::size_t fixed_size = 8;
    static std::size_t encoded_size(const record&) { return 8; }
    static void encode(const record& r, std::byte* out) {
        if (record::stall_at >= 0 && record::encoded++ == record::stall_at) {
            (void)!::write(record::stalled_fd, "x", 1);
            for (;;)
                ::pause();
        }
        std::memcpy(out, &r.value, 8);
    }
    static record decode(std::span<const std::byte> bytes) {
        record r{};
        std::memcpy(&r.value, bytes.data(), 8);
        return r;
    }
};

namespace {

using ring = om::shm_ring<std::uint64_t>;

std::string unique(const std::string& what) {
    return "shmtest-" + what + "-" + std::to_string(::getpid());
}

using omstream::testing::in_child;
using omstream::testing::kill_and_reap;
using omstream::testing::spawn;
using omstream::testing::stalling;
using omstream::testing::wait_exit;

struct shm_ring_test : ::testing::Test {
    std::vector<std::string> names;
    std::string fresh(const std::string& what) {
        names.push_back(unique(what));
        ring::remove(names.back());
        return names.back();
    }
    void TearDown() override {
        for (const auto& n : names)
            ring::remove(n);
    }
};

TEST_F(shm_ring_test, three_producer_processes_and_two_groups_of_two_consumer_processes) {
    const auto name = fresh("mp");
    constexpr std::uint64_t per_producer = 100'000;
    constexpr int producers = 3;
    constexpr std::uint64_t total = per_producer * producers;
    // Create the stream and both groups before anyone appends.
    auto setup = om::stream<ring>::open(name, om::capacity = 4096);
    for (const char* g : {"g1", "g2"}) {
        auto c = om::stream<ring>::open(name, om::group = g);
        (void)c.poll([](const auto&) {});
    }
    std::vector<std::string> outputs;
    std::vector<pid_t> consumers;
    for (const char* g : {"g1", "g2"}) {
        for (int member = 0; member < 2; ++member) {
            outputs.push_back(::testing::TempDir() + name + "-" + g + "-" + std::to_string(member));
            const std::string out = outputs.back();
            const std::string group = g;
            consumers.push_back(spawn([=] {
                auto c = om::stream<ring>::open(name, om::group = group, om::size = 64,
                                                om::max_wait = std::chrono::milliseconds(5));
                std::vector<std::uint64_t> got;
                std::vector<std::uint64_t> next(producers, 0);
                bool ordered = true;
                // Stop once the group has committed everything (another member may hold the last
                // window).
                std::jthread watchdog([&](std::stop_token st) {
                    auto probe = om::stream<ring>::open(name);
                    while (!st.stop_requested()) {
                        for (const auto& gm : probe.metadata().groups)
                            if (gm.name == group && gm.committed >= total)
                                return c.stop();
                        std::this_thread::sleep_for(2ms);
                    }
                });
                c.apply([&](const om::window<std::uint64_t>& w) {
                    for (auto v : w) {
                        const auto p = v >> 32, i = v & 0xffffffffu;
                        if (i < next[p])
                            ordered = false;  // per-producer order within a member
                        next[p] = i + 1;
                        got.push_back(v);
                    }
                });
                std::ofstream(out, std::ios::binary)
                    .write(reinterpret_cast<const char*>(got.data()),
                           static_cast<std::streamsize>(got.size() * 8));
                return ordered;
            }));
        }
    }
    std::vector<pid_t> writers;
    for (int p = 0; p < producers; ++p) {
        writers.push_back(spawn([=] {
            auto s = om::stream<ring>::open(name);
            for (std::uint64_t i = 0; i < per_producer; ++i)
                s.append((std::uint64_t(p) << 32) | i);
            return true;
        }));
    }
    for (pid_t w : writers)
        EXPECT_EQ(wait_exit(w), 0);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    for (pid_t c : consumers) {
        int status = 0;
        while (::waitpid(c, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(c, SIGKILL);
                ADD_FAILURE() << "a consumer did not finish";
            }
            std::this_thread::sleep_for(5ms);
        }
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "consumer failed or saw records out of order";
    }
    for (int g = 0; g < 2; ++g) {
        std::vector<std::uint64_t> all;
        for (int m = 0; m < 2; ++m) {
            std::ifstream in(outputs[g * 2 + m], std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
            const auto* v = reinterpret_cast<const std::uint64_t*>(bytes.data());
            all.insert(all.end(), v, v + bytes.size() / 8);
            std::remove(outputs[g * 2 + m].c_str());
        }
        const auto md = setup.metadata();
        ASSERT_GE(md.groups.size(), 2u);
        std::sort(all.begin(), all.end());
        EXPECT_EQ(all.size(), total) << "group " << g << ", slots given up: " << md.dropped;
        if (all.size() != total) {
            std::uint64_t shown = 0;
            for (int p = 0; p < producers && shown < 5; ++p)
                for (std::uint64_t i = 0; i < per_producer && shown < 5; ++i)
                    if (!std::binary_search(all.begin(), all.end(), (std::uint64_t(p) << 32) | i)) {
                        ADD_FAILURE() << "missing producer " << p << " record " << i;
                        ++shown;
                    }
        }
        EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a record came twice";
    }
}

// The sole-producer word of a ring (detail/sole_producer.hpp), read from the segment.
std::uint64_t sole_word(const std::string& name) {
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, ("omstream." + name).c_str(), bip::read_only);
    bip::mapped_region region(shm, bip::read_only, 0, om::detail::ring_header_bytes);
    return static_cast<const om::detail::ring_header*>(region.get_address())->sole.load();
}

TEST_F(shm_ring_test,
       a_second_producer_revokes_an_idle_sole_producer_and_nothing_is_claimed_twice) {
    om::testing::revoke_an_idle_sole_producer<ring>(fresh("sole"), sole_word);
    om::testing::revoke_an_idle_sole_producer<ring>(fresh("sole-killed"), sole_word, true);
}

TEST_F(shm_ring_test, producers_that_keep_opening_and_closing_never_claim_a_slot_twice) {
    om::testing::producers_taking_turns<ring>(fresh("solechurn"));
}

// Producers wake sleepers without a fence where the sleepers' membarrier
// covers them (detail/asymmetric_wait_word.hpp): no record may be missed,
// with the consumer or the producer in a child process (a child of fork()
// is not registered for the barrier even when its parent was).
// A handle owns a producer slot and a group membership named by its
// process. In a child of fork(), the parent's handle appends from a
// producer slot of the child's own, and refuses to consume under the
// parent's membership; the parent's handle keeps working.
TEST_F(shm_ring_test, a_child_of_fork_appends_through_its_parents_handle_but_may_not_consume) {
    const auto name = fresh("inherited");
    auto parent = om::stream<ring>::open(name, om::group = "g", om::size = 1);
    parent.append(1);
    std::vector<std::uint64_t> seen;
    ASSERT_TRUE(
        parent.poll([&](const om::window<std::uint64_t>& w) { seen.push_back(*w.begin()); }));
    const int code = in_child([&] {
        ::alarm(30);
        parent.append(2);
        try {
            (void)parent.poll([](const auto&) {});
            std::fprintf(stderr, "the child consumed as its parent's group member\n");
            return false;
        } catch (const om::error& e) {
            return e.code() == om::errc::inherited_handle &&
                   std::string(e.what()).find("open the stream again") != std::string::npos;
        }
    });
    ASSERT_EQ(code, 0);
    parent.append(3);
    while (parent.poll([&](const om::window<std::uint64_t>& w) { seen.push_back(*w.begin()); })) {
    }
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
}

// fork() inside a callback: the child returns from it too, but the window
// is the parent's to commit (or to give back).
TEST_F(shm_ring_test, a_child_forked_inside_a_callback_may_not_commit_its_parents_window) {
    const auto name = fresh("forkcb");
    auto s = om::stream<ring>::open(name, om::group = "g", om::size = 1);
    s.append(7);
    pid_t child = -1;
    try {
        ASSERT_TRUE(s.poll([&](const om::window<std::uint64_t>&) {
            std::fflush(nullptr);
            child = ::fork();
        }));
    } catch (const om::error& e) {
        if (child == 0)
            ::_exit(e.code() == om::errc::inherited_handle ? 0 : 1);
        throw;
    }
    if (child == 0)
        ::_exit(2);  // the child committed its parent's window
    ASSERT_EQ(wait_exit(child), 0);
    s.append(8);
    std::vector<std::uint64_t> seen;
    while (s.poll([&](const om::window<std::uint64_t>& w) { seen.push_back(*w.begin()); })) {
    }
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{8}));
}

TEST_F(shm_ring_test, every_record_wakes_a_consumer_asleep_in_another_process) {
    EXPECT_EQ(om::testing::wake_rounds<ring>(fresh("wake"), 1000, true), "");
    EXPECT_EQ(om::testing::wake_rounds<ring>(fresh("wake-forked"), 1000, false), "");
}

// A producer process killed between claim and commit: readers skip its
// record after a short stall, and other producers go on. The child
// appends through a handle of its own, or through its parent's.
void killed_between_claim_and_commit(const std::string& name, bool through_parents_handle) {
    using stall_ring = om::shm_ring<stalling>;
    auto consumer = om::stream<stall_ring>::open(name, om::size = 1);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<stall_ring>::open(name);
    producer.append(stalling{1});
    const pid_t child = spawn([&] {
        stalling::stall = true;
        if (through_parents_handle) {
            producer.append(stalling{666});  // from a producer slot of the child's own
        } else {
            auto p = om::stream<stall_ring>::open(name);
            p.append(stalling{666});  // claims seq 1, never commits
        }
        return true;
    });
    while (consumer.metadata().appended < 2)
        std::this_thread::yield();
    kill_and_reap(child);
    const auto killed_at = std::chrono::steady_clock::now();
    producer.append(stalling{2});  // other producers are not blocked
    std::vector<std::uint64_t> got;
    while (got.size() < 2 && std::chrono::steady_clock::now() - killed_at < 5s)
        (void)consumer.poll([&](const om::window<stalling>& w) {
            for (const auto& s : w)
                got.push_back(s.value);
        });
    const auto stall = std::chrono::steady_clock::now() - killed_at;
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));  // never the torn 666
    // Target: at most 100 ms (Aeron takes 15 s); generous bound for a loaded machine.
    EXPECT_LT(stall, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(stall).count()
                         << " ms";
    EXPECT_EQ(consumer.metadata().dropped, 1u);  // the dead slot, counted
    ::testing::Test::RecordProperty(
        "stall_ms",
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(stall).count()));
}

TEST_F(shm_ring_test, a_producer_killed_between_claim_and_commit_stalls_nobody_for_long) {
    killed_between_claim_and_commit(fresh("stall"), false);
}

// Had the child appended from its parent's producer slot, its dead claim
// would look like the live parent's work in progress forever.
TEST_F(shm_ring_test, a_child_of_fork_killed_mid_append_through_its_parents_handle_stalls_nobody) {
    killed_between_claim_and_commit(fresh("stall-inherited"), true);
}

// A producer killed in the middle of a batch: a batch is one claim and one
// publish, so readers get none of it (its first record, written last,
// never comes; the records after it are there already) and count all of
// it dropped. Lossy rings write batches the same way.
void killed_in_the_middle_of_a_batch(const std::string& name, bool lossy) {
    using batch_ring = om::shm_ring<shm_ring_tests::batch_stalling>;
    using shm_ring_tests::batch_stalling;
    auto consumer =
        om::stream<batch_ring>::open(name, om::capacity = 64, om::lossy = lossy, om::size = 1);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<batch_ring>::open(name);
    producer.append(batch_stalling{100});  // seq 0
    int stalled[2];
    ASSERT_EQ(::pipe(stalled), 0);
    const pid_t child = spawn([&] {
        auto p = om::stream<batch_ring>::open(name);
        batch_stalling::stalled_fd = stalled[1];
        batch_stalling::stall_at = 3;  // records 1 and 2 are published, 0 waits for the end
        std::vector<batch_stalling> batch;
        for (std::uint64_t i = 0; i < 8; ++i)
            batch.push_back({i});
        p.append(batch);  // seq 1..8
        return true;
    });
    char x;
    ASSERT_EQ(::read(stalled[0], &x, 1), 1);
    kill_and_reap(child);
    ::close(stalled[0]);
    ::close(stalled[1]);
    producer.append(batch_stalling{200});  // seq 9
    std::vector<std::uint64_t> got;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while ((got.empty() || got.back() != 200) && std::chrono::steady_clock::now() < until)
        (void)consumer.poll([&](const om::window<batch_stalling>& w) {
            for (const auto& r : w)
                got.push_back(r.value);
        });
    EXPECT_EQ(got, (std::vector<std::uint64_t>{100, 200}));
    EXPECT_EQ(consumer.metadata().dropped, 8u);
}

TEST_F(shm_ring_test, a_producer_killed_in_the_middle_of_a_batch_delivers_none_of_it) {
    killed_in_the_middle_of_a_batch(fresh("batch-kill"), false);
}

TEST_F(shm_ring_test, a_lossy_producer_killed_in_the_middle_of_a_batch_delivers_none_of_it) {
    killed_in_the_middle_of_a_batch(fresh("batch-kill-lossy"), true);
}

// A codec that throws after the append claimed its slots: the append throws,
// the claim is given up as a dead producer's is (padding, counted in
// dropped), and readers go on at once instead of waiting for records that
// their live producer will never publish.
template <class... Options>
void codec_throws_mid_append(const std::string& name, Options... options) {
    using throwing = om::testing::throwing;
    using throwing_ring = om::shm_ring<throwing>;
    struct reset {
        ~reset() { throwing::fail = false; }
    } reset_fail;
    auto producer = om::stream<throwing_ring>::open(name, options...);
    auto other = om::stream<throwing_ring>::open(name);  // a producer of its own
    auto consumer = om::stream<throwing_ring>::open(name, om::size = 1);
    producer.append(throwing{1});
    throwing::fail = true;
    const std::vector<throwing> batch(3, throwing{666});
    EXPECT_THROW(producer.append(batch), std::runtime_error);
    EXPECT_THROW(producer.append(throwing{666}), std::runtime_error);
    EXPECT_THROW((void)producer.try_append(throwing{666}), std::runtime_error);
    throwing::fail = false;
    EXPECT_EQ(consumer.metadata().dropped, 5u);  // at once, not when a reader finds the claim
    // Not the producer that threw: its next claim would replace the intent
    // that makes its last claim look alive.
    other.append(throwing{2});
    std::vector<std::uint64_t> got;
    const auto since = std::chrono::steady_clock::now();
    while ((got.empty() || got.back() != 2) && std::chrono::steady_clock::now() - since < 3s)
        (void)consumer.poll([&](const om::window<throwing>& w) {
            for (const auto& t : w)
                got.push_back(t.value);
        });
    EXPECT_LT(std::chrono::steady_clock::now() - since, 1s) << "a reader waited for the claim";
    // Stalled, the laps below would wait for room for good.
    ASSERT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(consumer.metadata().dropped, 5u);
    // The given-up slots take records again on the next laps.
    for (std::uint64_t i = 3; i < 40; ++i) {
        producer.append(throwing{i});
        (void)consumer.poll([&](const om::window<throwing>& w) {
            for (const auto& t : w)
                got.push_back(t.value);
        });
    }
    ASSERT_EQ(got.size(), 39u);
    EXPECT_EQ(got.back(), 39u);
    EXPECT_EQ(consumer.metadata().dropped, 5u);
}

TEST_F(shm_ring_test, a_codec_that_throws_mid_append_stalls_nobody) {
    codec_throws_mid_append(fresh("codec-throws"), om::capacity = 8);
}

TEST_F(shm_ring_test, a_codec_that_throws_mid_append_to_a_lossy_ring_stalls_nobody) {
    codec_throws_mid_append(fresh("codec-throws-lossy"), om::capacity = 8, om::lossy = true);
}

// The codec throws at the third record of a batch, when the second one is
// published already (a batch is published by its first slot, written
// last): none of the batch may come out, and what follows must.
TEST_F(shm_ring_test, a_codec_that_throws_in_the_middle_of_a_batch_delivers_none_of_it) {
    using record = om::testing::throwing;
    using throwing_ring = om::shm_ring<record>;
    struct reset {
        ~reset() { record::fail_on = ~0ull; }
    } reset_throw;
    for (const bool lossy : {false, true}) {
        SCOPED_TRACE(lossy ? "lossy" : "not lossy");
        const auto name = fresh(lossy ? "batch-throws-lossy" : "batch-throws");
        auto producer = om::stream<throwing_ring>::open(name, om::capacity = 16, om::lossy = lossy);
        auto consumer = om::stream<throwing_ring>::open(name, om::size = 1);
        auto other = om::stream<throwing_ring>::open(name);  // a producer of its own
        producer.append(record{1});
        record::fail_on = 668;  // the third: the second is published by then
        const std::vector<record> batch{{666}, {667}, {668}, {669}};
        EXPECT_THROW(producer.append(batch), std::runtime_error);
        record::fail_on = ~0ull;
        other.append(record{2});
        std::vector<std::uint64_t> got;
        const auto since = std::chrono::steady_clock::now();
        while ((got.empty() || got.back() != 2) && std::chrono::steady_clock::now() - since < 3s)
            (void)consumer.poll([&](const om::window<record>& w) {
                for (const auto& r : w)
                    got.push_back(r.value);
            });
        EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
        EXPECT_LT(std::chrono::steady_clock::now() - since, 1s) << "a reader waited for the claim";
        EXPECT_EQ(consumer.metadata().dropped, 4u);
        EXPECT_EQ(consumer.metadata().appended, 6u);
    }
}

TEST_F(shm_ring_test, a_consumer_killed_in_its_callback_gets_its_window_redelivered) {
    const auto name = fresh("ckill");
    auto producer = om::stream<ring>::open(name);
    auto survivor = om::stream<ring>::open(name, om::group = "g", om::size = 3);
    (void)survivor.poll([](const auto&) {});
    for (std::uint64_t i = 0; i < 3; ++i)
        producer.append(i);
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = spawn([&] {
        auto c = om::stream<ring>::open(name, om::group = "g", om::size = 3);
        return c.poll([&](const auto&) {
            (void)::write(ready[1], "x", 1);
            ::pause();  // dies here, window not committed
        });
    });
    char x;
    ASSERT_EQ(::read(ready[0], &x, 1), 1);
    kill_and_reap(child);
    std::vector<std::uint64_t> got;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (got.empty() && std::chrono::steady_clock::now() < until) {
        (void)survivor.poll(
            [&](const om::window<std::uint64_t>& w) { got.assign(w.begin(), w.end()); });
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2}));
    ::close(ready[0]);
    ::close(ready[1]);
}

TEST_F(shm_ring_test, kill_loop_producers_never_leave_torn_records_or_a_stall) {
    // Records carry their value twice: a torn record would show a mismatch.
    struct twice {
        std::uint64_t a, b;
    };
    using twice_ring = om::shm_ring<twice>;
    const auto name = fresh("killloop");
    const int rounds =
        std::getenv("OMSTREAM_KILL_ROUNDS") ? std::atoi(std::getenv("OMSTREAM_KILL_ROUNDS")) : 200;
    auto consumer = om::stream<twice_ring>::open(name, om::size = 1, om::capacity = 1024);
    (void)consumer.poll([](const auto&) {});
    std::mt19937 random(42);
    std::uint64_t delivered = 0, last_seen_per_round = 0;
    for (int round = 0; round < rounds; ++round) {
        const pid_t child = spawn([&] {
            auto p = om::stream<twice_ring>::open(name);
            for (std::uint64_t i = 1;; ++i) {
                const std::uint64_t v = (std::uint64_t(round) << 40) | i;
                p.append(twice{v, ~v});
            }
            return true;
        });
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
        kill_and_reap(child);
        // Everything committed must come out, within a bounded time.
        const auto md = consumer.metadata();
        const auto until = std::chrono::steady_clock::now() + 5s;
        last_seen_per_round = 0;
        for (;;) {
            const auto now_md = consumer.metadata();
            const auto& g = now_md.groups.at(0);
            if (g.committed >= md.appended)
                break;
            ASSERT_LT(std::chrono::steady_clock::now(), until)
                << "consumer stalled after kill in round " << round;
            (void)consumer.poll([&](const om::window<twice>& w) {
                for (const auto& t : w) {
                    ASSERT_EQ(t.a, ~t.b) << "torn record";
                    if ((t.a >> 40) == std::uint64_t(round)) {
                        ASSERT_GT(t.a & 0xffffffffffu, last_seen_per_round) << "out of order";
                        last_seen_per_round = t.a & 0xffffffffffu;
                    }
                    ++delivered;
                }
            });
        }
    }
    const auto md = consumer.metadata();
    EXPECT_EQ(delivered + md.dropped,
              md.appended);  // every claimed slot: delivered, or a dead writer's
}

TEST_F(shm_ring_test, kill_loop_consumers_lose_nothing_committed) {
    const auto name = fresh("ckillloop");
    const int rounds =
        std::getenv("OMSTREAM_KILL_ROUNDS") ? std::atoi(std::getenv("OMSTREAM_KILL_ROUNDS")) : 200;
    constexpr std::uint64_t per_round = 96;  // 12 windows of 8
    const std::uint64_t total = per_round * static_cast<std::uint64_t>(rounds);
    auto producer = om::stream<ring>::open(name, om::capacity = total);
    auto survivor = om::stream<ring>::open(name, om::group = "g", om::size = 8);
    (void)survivor.poll([](const auto&) {});  // the group exists before the records
    std::uint64_t appended = 0;
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    ::fcntl(pipe_fds[0], F_SETFL,
            O_NONBLOCK);  // a full pipe blocks the child inside its callback: fine
    std::vector<bool> seen(total, false);
    auto collect = [&] {
        std::uint64_t buffer[512];
        for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
            for (ssize_t i = 0; i < n / 8; ++i)
                seen.at(buffer[i]) = true;
    };
    std::mt19937 random(7);
    for (int round = 0; round < rounds; ++round) {
        for (std::uint64_t i = 0; i < per_round; ++i)
            producer.append(appended++);
        const pid_t child = spawn([&] {
            auto c = om::stream<ring>::open(name, om::group = "g", om::size = 8);
            for (;;) {
                (void)c.poll([&](const om::window<std::uint64_t>& w) {
                    std::vector<std::uint64_t> values(w.begin(), w.end());  // one atomic pipe write
                    (void)::write(pipe_fds[1], values.data(), values.size() * 8);
                    std::this_thread::sleep_for(
                        std::chrono::microseconds(50));  // kills land in here
                });
            }
            return true;
        });
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));
        kill_and_reap(child);
        collect();
    }
    // The survivor takes over what dead members left, and the rest.
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (survivor.metadata().groups.at(0).committed < total) {
        ASSERT_LT(std::chrono::steady_clock::now(), until)
            << "records held by dead members never came back: committed "
            << survivor.metadata().groups.at(0).committed << ", position "
            << survivor.metadata().groups.at(0).position << ", in flight "
            << survivor.metadata().groups.at(0).in_flight;
        (void)survivor.poll([&](const om::window<std::uint64_t>& w) {
            for (auto v : w)
                seen.at(v) = true;
        });
    }
    collect();
    EXPECT_EQ(std::count(seen.begin(), seen.end(), false), 0) << "committed records lost";
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST_F(shm_ring_test, bad_segments_are_refused_with_clear_errors) {
    const auto name = fresh("garbage");
    { std::ofstream("/dev/shm/omstream." + name, std::ios::binary) << std::string(100, 'x'); }
    try {
        (void)om::stream<ring>::open(name);
        FAIL() << "a truncated segment must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
        EXPECT_NE(std::string(e.what()).find("remove"), std::string::npos) << e.what();
    }
    {
        std::ofstream("/dev/shm/omstream." + name, std::ios::binary | std::ios::trunc)
            << std::string(1 << 20, '\x5a');
    }
    try {
        (void)om::stream<ring>::open(name);
        FAIL() << "a garbage segment must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
    }
    ring::remove(name);

    // A segment from another format version.
    { auto s = om::stream<ring>::open(name, om::capacity = 16); }
    {
        std::fstream f("/dev/shm/omstream." + name,
                       std::ios::binary | std::ios::in | std::ios::out);
        const std::uint32_t future = 99;
        f.seekp(8);
        f.write(reinterpret_cast<const char*>(&future), 4);
    }
    try {
        (void)om::stream<ring>::open(name);
        FAIL() << "another format version must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::version_mismatch);
        EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
    }
}

TEST_F(shm_ring_test, a_batch_larger_than_the_ring_is_refused) {
    const auto name = fresh("big");
    auto s = om::stream<ring>::open(name, om::capacity = 8);
    std::vector<std::uint64_t> batch(9, 1);
    try {
        s.append(batch);
        FAIL();
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::record_too_large);
    }
}

// 2^40 slots of 2^24 bytes: 2^64 bytes, which wraps around to 0 in a
// size_t. The ring must be refused at open, not made header-only and
// written past its end by the first append.
TEST_F(shm_ring_test, a_ring_too_large_to_address_is_refused_at_open_saying_what_to_lower) {
    const auto name = fresh("huge");
    try {
        auto s = om::stream<om::shm_ring<std::string>>::open(
            name, om::capacity = std::size_t{1} << 40,
            om::max_record_size = (std::size_t{1} << 24) - 24);
        FAIL() << "opened a ring of 2^64 bytes: capacity " << s.metadata().capacity;
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::invalid_option) << e.what();
        const std::string what = e.what();
        EXPECT_NE(what.find("capacity 1099511627776"), std::string::npos) << what;
        EXPECT_NE(what.find("max_record_size 16777192"), std::string::npos) << what;
        // 2^40 * 2^24 + the header, in full.
        const auto bytes =
            om::detail::decimal((om::detail::uint128{1} << 64) + om::detail::ring_header_bytes);
        EXPECT_NE(what.find("need " + bytes + " bytes"), std::string::npos) << what;
        EXPECT_NE(what.find("lower om::capacity or om::max_record_size"), std::string::npos)
            << what;
    }
    EXPECT_FALSE(std::filesystem::exists("/dev/shm/omstream." + name));
}

// A header whose capacity * slot size wraps around (garbage, or a bad
// edit) must not pass for a segment of the size it has.
TEST_F(shm_ring_test, a_header_whose_size_wraps_around_is_refused_as_corrupt) {
    using text_ring = om::shm_ring<std::string>;
    const auto name = fresh("wraps");
    { auto s = om::stream<text_ring>::open(name, om::capacity = 16); }
    {
        std::fstream f("/dev/shm/omstream." + name,
                       std::ios::binary | std::ios::in | std::ios::out);
        const std::uint64_t capacity = std::uint64_t{1} << 40, slot_size = std::uint64_t{1} << 24;
        f.seekp(offsetof(om::detail::ring_header, capacity));
        f.write(reinterpret_cast<const char*>(&capacity), 8);
        f.seekp(offsetof(om::detail::ring_header, slot_size));
        f.write(reinterpret_cast<const char*>(&slot_size), 8);
    }
    try {
        auto s = om::stream<text_ring>::open(name);
        FAIL() << "opened a ring whose header claims 2^64 bytes of slots: capacity "
               << s.metadata().capacity;
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
        EXPECT_NE(std::string(e.what()).find("remove"), std::string::npos) << e.what();
    }
    const auto all = text_ring::list();
    EXPECT_TRUE(std::none_of(all.begin(), all.end(), [&](const auto& m) { return m.name == name; }))
        << "a segment with a wrapped-around size is listed";
}

// /dev/shm (a tmpfs) too small for the ring: errc::no_space at open, not a
// SIGBUS at the append that first touches a page it cannot supply. Runs in
// a child with a 4 MiB tmpfs over /dev/shm in its own mount namespace.
TEST_F(shm_ring_test, a_ring_larger_than_dev_shm_is_no_space_at_open_and_leaves_nothing_behind) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "mounting a small tmpfs over /dev/shm needs root; run the tests as root "
                        "to cover a full /dev/shm";
    constexpr int cannot_mount = 77;
    const std::string name = unique("shmfull");             // in the child's /dev/shm only
    const std::size_t big_capacity = std::size_t{1} << 20;  // 32 MiB of slots
    const std::size_t needed =
        om::detail::ring_header_bytes + big_capacity * om::detail::frame_size(8);
    const int code = in_child([&] {
        ::alarm(60);
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=4m") != 0) {
            std::fprintf(stderr, "cannot mount a small tmpfs over /dev/shm: %s\n",
                         std::strerror(errno));
            ::_exit(cannot_mount);
        }
        bool ok = true;
        auto check = [&](bool c, const std::string& what) {
            if (!c) {
                std::fprintf(stderr, "%s\n", what.c_str());
                ok = false;
            }
        };
        try {
            auto s = om::stream<ring>::open(name, om::capacity = big_capacity);
            check(false, "a 32 MiB ring opened in a 4 MiB /dev/shm");
            return false;  // its appends would die of SIGBUS
        } catch (const om::error& e) {
            const std::string what = e.what();
            check(e.code() == om::errc::no_space, "not no_space: " + what);
            check(what.find("/dev/shm") != std::string::npos, "no /dev/shm in: " + what);
            check(what.find(std::to_string(needed)) != std::string::npos,
                  "not the bytes needed (" + std::to_string(needed) + ") in: " + what);
            check(what.find("smaller om::capacity") != std::string::npos, "no advice in: " + what);
        }
        // The half-made segment is gone: the same name opens afresh, smaller.
        check(!std::filesystem::exists("/dev/shm/omstream." + name),
              "the half-made segment was left in /dev/shm");
        auto s = om::stream<ring>::open(name, om::capacity = 1024, om::group = "g");
        check(s.metadata().capacity == 1024, "the small ring took the failed one's capacity");
        std::uint64_t sum = 0, n = 0;
        for (std::uint64_t round = 0; round < 4; ++round) {  // every slot, several laps
            for (std::uint64_t i = 0; i < 1000; ++i)
                s.append(i);
            while (s.poll([&](const om::window<std::uint64_t>& w) {
                for (std::uint64_t v : w) {
                    sum += v;
                    ++n;
                }
            })) {
            }
        }
        check(n == 4000 && sum == 4 * 999 * 1000 / 2,
              "read " + std::to_string(n) + " records back from the small ring");
        return ok;
    });
    if (code == cannot_mount)
        GTEST_SKIP() << "cannot mount a tmpfs over /dev/shm in a private mount namespace here; "
                        "a full /dev/shm is not covered on this machine";
    EXPECT_EQ(code, 0) << "see the child's messages above (128 + n: killed by signal n)";
}

TEST_F(shm_ring_test, another_user_gets_permission_denied) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to create as root and open as nobody";
    const auto name = fresh("perm");
    auto s = om::stream<ring>::open(name);  // 0600, owned by root
    const pid_t child = spawn([&] {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            return false;
        try {
            (void)om::stream<ring>::open(name);
        } catch (const om::error& e) {
            return e.code() == om::errc::permission_denied;
        }
        return false;
    });
    EXPECT_EQ(wait_exit(child), 0);
}

TEST_F(shm_ring_test, streams_are_listed_with_their_metadata_and_outlive_their_handles) {
    const auto name = fresh("listed");
    { om::stream<ring>::open(name, om::capacity = 100).append(5u); }
    const auto all = ring::list();
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& m) { return m.name == name; });
    ASSERT_NE(it, all.end());
    EXPECT_EQ(it->kind, "stream.shm_ring");
    EXPECT_EQ(it->capacity, 128u);  // rounded up to a power of two
    EXPECT_EQ(it->appended, 1u);
    auto c = om::stream<ring>::open(name);
    std::uint64_t got = 0;
    EXPECT_TRUE(c.poll([&](const om::window<std::uint64_t>& w) { got = w[0]; }));
    EXPECT_EQ(got, 5u);
    EXPECT_TRUE(ring::remove(name));
    EXPECT_FALSE(ring::remove(name));
}

// --- lossy rings (S13 with om::lossy = true) ---------------------------------

// 64 bytes, every word the same: a torn record (two writers' bytes, or a
// half-written slot) shows words that differ.
struct block64 {
    std::array<std::uint64_t, 8> w;
};
using lossy_ring = om::shm_ring<block64>;

block64 block_of(std::uint64_t v) {
    block64 b;
    b.w.fill(v);
    return b;
}
bool intact(const block64& b) {
    return std::all_of(b.w.begin(), b.w.end(), [&](std::uint64_t x) { return x == b.w[0]; });
}

std::vector<block64> blocks(std::uint64_t from, std::uint64_t n) {
    std::vector<block64> out;
    for (std::uint64_t i = 0; i < n; ++i)
        out.push_back(block_of(from + i));
    return out;
}

std::uint64_t group_lost(om::stream<lossy_ring>& s, const std::string& group) {
    for (const auto& g : s.metadata().groups)
        if (g.name == group)
            return g.lost;
    ADD_FAILURE() << "no group " << group;
    return 0;
}

TEST_F(shm_ring_test, lossy_is_fixed_when_the_ring_is_created) {
    const auto name = fresh("lossyflag");
    auto creator = om::stream<lossy_ring>::open(name, om::capacity = 16, om::lossy = true);
    EXPECT_TRUE(creator.storage().lossy());
    EXPECT_TRUE(om::stream<lossy_ring>::open(name).storage().lossy());  // the creator's choice
    EXPECT_TRUE(om::stream<lossy_ring>::open(name, om::lossy = true).storage().lossy());
    try {
        (void)om::stream<lossy_ring>::open(name, om::lossy = false);
        FAIL() << "a handle that asks for no loss must not get a lossy ring";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::invalid_option) << e.what();
        EXPECT_NE(std::string(e.what()).find("lossy"), std::string::npos) << e.what();
    }
    const auto strict = fresh("strictflag");
    auto s = om::stream<lossy_ring>::open(strict, om::capacity = 16);
    EXPECT_FALSE(s.storage().lossy());
    EXPECT_THROW((void)om::stream<lossy_ring>::open(strict, om::lossy = true), om::error);
    // The segment says so to any process, whatever its record type.
    const auto all = lossy_ring::list();
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& m) { return m.name == name; });
    ASSERT_NE(it, all.end());
    EXPECT_EQ(it->capacity, 16u);
    EXPECT_TRUE(it->lossy);
    EXPECT_TRUE(creator.metadata().lossy);
    EXPECT_FALSE(s.metadata().lossy);
}

// Capacity and max_record_size are fixed at creation too: an open that
// names another value must not get the existing ring without a word.
TEST_F(shm_ring_test, another_capacity_or_max_record_size_than_the_rings_is_refused) {
    using text_ring = om::shm_ring<std::string>;
    const auto name = fresh("geometry");
    auto creator = om::stream<text_ring>::open(name, om::capacity = 6, om::max_record_size = 100);
    EXPECT_EQ(creator.storage().capacity(), 8u);
    auto refused = [&](auto&&... options) -> std::string {
        try {
            (void)om::stream<text_ring>::open(name, options...);
        } catch (const om::error& e) {
            EXPECT_EQ(e.code(), om::errc::invalid_option) << e.what();
            return e.what();
        }
        ADD_FAILURE() << "an open that asks for another geometry got the ring's";
        return {};
    };
    std::string what = refused(om::capacity = 1000);
    EXPECT_NE(what.find("capacity 8"), std::string::npos) << what;
    EXPECT_NE(what.find("1024 (1000 rounded up to a power of two)"), std::string::npos) << what;
    EXPECT_NE(what.find("leave om::capacity out"), std::string::npos) << what;
    EXPECT_NE(what.find("remove the ring"), std::string::npos) << what;
    what = refused(om::max_record_size = 200);
    EXPECT_NE(what.find("max_record_size 100"), std::string::npos) << what;
    EXPECT_NE(what.find("200"), std::string::npos) << what;
    EXPECT_NE(what.find("leave om::max_record_size out"), std::string::npos) << what;
    (void)refused(om::capacity = 8, om::max_record_size = 1000);  // the default, but named
    // Without the options, or with the ring's values (after rounding): the ring as it is.
    EXPECT_EQ(om::stream<text_ring>::open(name).storage().capacity(), 8u);
    EXPECT_EQ(om::stream<text_ring>::open(name, om::capacity = 5, om::max_record_size = 100)
                  .storage()
                  .capacity(),
              8u);
    EXPECT_EQ(om::stream<text_ring>::open(name, om::capacity = 8).metadata().capacity, 8u);
    // A fixed-size record's slots are its size, whatever max_record_size says.
    const auto fixed = fresh("geometry-fixed");
    auto u64 = om::stream<ring>::open(fixed, om::capacity = 16, om::max_record_size = 64);
    EXPECT_NO_THROW((void)om::stream<ring>::open(fixed, om::max_record_size = 8));
    EXPECT_THROW((void)om::stream<ring>::open(fixed, om::capacity = 32), om::error);
}

TEST_F(shm_ring_test, a_full_lossy_ring_overwrites_the_oldest_records_without_waiting) {
    const auto name = fresh("lossyfull");
    auto consumer =
        om::stream<lossy_ring>::open(name, om::capacity = 64, om::lossy = true, om::size = 8);
    (void)consumer.poll([](const auto&) {});  // the group exists before the records
    // With timeout 0, an append that had to wait would throw errc::full.
    auto producer = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    for (std::uint64_t i = 0; i < 1000; ++i)
        producer.append(block_of(i));
    EXPECT_TRUE(producer.try_append(block_of(1000)));
    producer.append(blocks(1001, 10));  // a batch claims over the oldest too
    EXPECT_TRUE(producer.try_append(blocks(1011, 10)));
    constexpr std::uint64_t appended = 1021, oldest = appended - 64;

    auto md = consumer.metadata();
    EXPECT_EQ(md.appended, appended);
    EXPECT_EQ(md.first_seq, oldest);
    EXPECT_EQ(md.retained, 64u);
    ASSERT_EQ(md.groups.size(), 1u);
    EXPECT_EQ(md.groups[0].lost, oldest);  // overwritten before the group got them
    EXPECT_EQ(md.groups[0].position, 0u);  // it has not noticed yet

    std::vector<std::uint64_t> got, lost;
    while (consumer.poll([&](const om::window<block64>& w) {
        lost.push_back(w.lost());
        for (auto e : w.entries()) {
            EXPECT_TRUE(intact(e.data()));
            EXPECT_EQ(e.data().w[0], e.seq());  // never a record of another lap
            got.push_back(e.seq());
        }
    })) {
    }
    ASSERT_EQ(got.size(), 64u);
    for (std::uint64_t i = 0; i < 64; ++i)
        EXPECT_EQ(got[i], oldest + i);
    ASSERT_EQ(lost.size(), 8u);
    EXPECT_EQ(lost[0], oldest);  // told once, on the first window after the gap
    EXPECT_EQ(std::count(lost.begin(), lost.end(), 0u), 7);
    md = consumer.metadata();
    EXPECT_EQ(md.groups[0].lost, oldest);
    EXPECT_EQ(md.groups[0].committed, appended);
    EXPECT_EQ(got.size() + md.groups[0].lost, appended);
    EXPECT_EQ(md.dropped, 0u);  // dropped stays for slots of dead writers
}

TEST_F(shm_ring_test, a_lossy_ring_keeps_what_groups_keep_up_with) {
    // Loss is per group: one that keeps up loses nothing while another loses.
    const auto name = fresh("lossygroups");
    auto fast =
        om::stream<lossy_ring>::open(name, om::capacity = 32, om::lossy = true, om::group = "fast");
    auto slow = om::stream<lossy_ring>::open(name, om::group = "slow");
    (void)fast.poll([](const auto&) {});
    (void)slow.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    std::uint64_t fast_got = 0;
    for (std::uint64_t i = 0; i < 320; ++i) {
        producer.append(block_of(i));
        while (fast.poll([&](const om::window<block64>& w) {
            EXPECT_EQ(w.lost(), 0u);
            EXPECT_EQ(w[0].w[0], fast_got);
            ++fast_got;
        })) {
        }
    }
    EXPECT_EQ(fast_got, 320u);
    EXPECT_EQ(group_lost(fast, "fast"), 0u);
    EXPECT_EQ(group_lost(fast, "slow"), 320u - 32u);
}

TEST_F(shm_ring_test, a_lossy_window_held_in_a_callback_is_never_overwritten) {
    const auto name = fresh("lossyheld");
    constexpr std::uint64_t capacity = 64;
    auto consumer = om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true,
                                                 om::size = 16);
    (void)consumer.poll([](const auto&) {});
    {
        auto p = om::stream<lossy_ring>::open(name);
        p.append(blocks(0, capacity));  // full: 0..63
    }
    for (int i = 0; i < 2; ++i)  // the group has processed 0..31
        ASSERT_TRUE(consumer.poll([](const auto&) {}));

    std::uint64_t overwrote = 0, refused = 0, checks = 0;
    const bool delivered = consumer.poll([&](const om::window<block64>& w) {
        ASSERT_EQ(w.first_seq(), 32u);
        const std::vector<block64> copy(w.begin(), w.end());
        std::atomic<bool> done{false};
        // Another thread hammers the ring while we read the window.
        std::thread hammer([&] {
            auto p = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
            for (std::uint64_t i = 0; i < 20'000; ++i)
                if (p.try_append(block_of(capacity + overwrote)))
                    ++overwrote;
            try {
                p.append(block_of(~std::uint64_t{0}));
            } catch (const om::error& e) {
                refused += e.code() == om::errc::full;
            }
            done.store(true, std::memory_order_release);
        });
        auto same = [&] {
            std::size_t i = 0;
            for (auto e : w.entries()) {
                const block64 b = e.data();
                if (!intact(b) || b.w[0] != e.seq() || b.w != copy[i++].w)
                    return false;
            }
            return i == copy.size();
        };
        do {
            ASSERT_TRUE(same()) << "the window changed under the callback";
            ++checks;
        } while (!done.load(std::memory_order_acquire));
        hammer.join();
        EXPECT_TRUE(same()) << "the window changed under the callback";
    });
    ASSERT_TRUE(delivered);
    // The producer ran past everything older than the window (0..31 went to
    // 64..95), and not one record further.
    EXPECT_EQ(overwrote, 32u);
    EXPECT_EQ(refused, 1u);
    EXPECT_GT(checks, 0u);
    EXPECT_EQ(group_lost(consumer, "default"), 0u);  // only processed records were overwritten
    // Committed: the producer may overwrite it now.
    auto p = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    EXPECT_TRUE(p.try_append(block_of(96)));
}

TEST_F(shm_ring_test, a_lossy_window_abandoned_and_overwritten_is_counted_lost) {
    const auto name = fresh("lossyabandon");
    auto consumer =
        om::stream<lossy_ring>::open(name, om::capacity = 16, om::lossy = true, om::size = 4);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    producer.append(blocks(0, 16));
    EXPECT_THROW(consumer.poll([](const auto&) -> void { throw std::runtime_error("no"); }),
                 std::runtime_error);  // window 0..3 goes back, unpinned
    producer.append(blocks(16, 16));   // overwrites 0..15, that window included
    EXPECT_EQ(group_lost(consumer, "default"), 16u);
    std::vector<std::uint64_t> lost, got;
    while (consumer.poll([&](const om::window<block64>& w) {
        lost.push_back(w.lost());
        for (const auto& b : w)
            got.push_back(b.w[0]);
    })) {
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                               29, 30, 31}));
    EXPECT_EQ(lost, (std::vector<std::uint64_t>{16, 0, 0, 0}));
    const auto md = consumer.metadata();
    EXPECT_EQ(md.groups.at(0).lost, 16u);
    EXPECT_EQ(md.groups.at(0).in_flight, 0u);
    EXPECT_EQ(md.groups.at(0).committed, 32u);
}

TEST_F(shm_ring_test, a_lossy_window_delivered_again_tells_its_loss_again) {
    const auto name = fresh("lossyagain");
    auto consumer =
        om::stream<lossy_ring>::open(name, om::capacity = 16, om::lossy = true, om::size = 4);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    for (std::uint64_t i = 0; i < 48; i += 16)  // 0..31 overwritten
        producer.append(blocks(i, 16));
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;  // first_seq, lost()
    auto take = [&](const om::window<block64>& w) { seen.emplace_back(w.first_seq(), w.lost()); };
    EXPECT_THROW(consumer.poll([&](const om::window<block64>& w) {
        take(w);
        throw std::runtime_error("again");
    }),
                 std::runtime_error);
    while (consumer.poll(take)) {
    }
    using p = std::pair<std::uint64_t, std::uint64_t>;
    EXPECT_EQ(seen, (std::vector<p>{{32, 32}, {32, 32}, {36, 0}, {40, 0}, {44, 0}}));
    EXPECT_EQ(group_lost(consumer, "default"), 32u);
}

// Checks one window of a lossy ring against what came before it; returns
// false (with a failure) on a torn record, a record of another lap, or a gap
// that lost() does not account for.
struct lossy_tally {
    std::uint64_t delivered = 0, lost = 0, next = 0, errors = 0;
    bool check(const om::window<block64>& w) {
        if (w.first_seq() != next + w.lost())
            ++errors;  // every record is delivered or told lost, nothing twice
        lost += w.lost();
        std::uint64_t seq = w.first_seq();
        for (auto e : w.entries()) {
            const block64 b = e.data();
            if (!intact(b) || e.seq() != seq++)
                ++errors;
            ++delivered;
        }
        next = seq;
        return errors == 0;
    }
};

TEST_F(shm_ring_test, a_lossy_consumer_that_does_not_keep_up_accounts_for_every_record) {
    const auto name = fresh("lossyslow");
    constexpr std::uint64_t capacity = 256, total = 100'000;
    auto consumer =
        om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true, om::size = 16,
                                     om::max_wait = std::chrono::milliseconds(1));
    (void)consumer.poll([](const auto&) {});
    std::thread producer([&] {
        auto p = om::stream<lossy_ring>::open(name);
        for (std::uint64_t i = 0; i < total; ++i)
            p.append(block_of(i));  // waits only while a window is out
    });
    // Start late, so that some records are surely overwritten.
    while (consumer.metadata().appended < 4 * capacity)
        std::this_thread::yield();
    lossy_tally tally;
    const auto until = std::chrono::steady_clock::now() + 60s;
    bool joined = false;
    while (tally.delivered + tally.lost < total) {
        ASSERT_LT(std::chrono::steady_clock::now(), until)
            << "delivered " << tally.delivered << ", lost " << tally.lost;
        (void)consumer.poll([&](const om::window<block64>& w) {
            for (int again = 0; again < 4; ++again)  // a slow consumer: reads everything 5 times
                for (const auto& b : w)
                    tally.errors += !intact(b);
            EXPECT_TRUE(tally.check(w)) << "window at " << w.first_seq();
            for (auto e : w.entries())
                tally.errors += e.data().w[0] != e.seq();  // values are sequence numbers here
        });
        if (!joined && consumer.metadata().appended == total) {
            producer.join();
            joined = true;
        }
    }
    if (!joined)
        producer.join();
    EXPECT_EQ(tally.errors, 0u);
    EXPECT_EQ(tally.delivered + tally.lost, total);
    EXPECT_GT(tally.lost, 0u);
    EXPECT_GT(tally.delivered, 0u);
    const auto md = consumer.metadata();
    EXPECT_EQ(md.appended, total);
    EXPECT_EQ(md.groups.at(0).lost, tally.lost);
    EXPECT_EQ(md.groups.at(0).committed, total);
    ::testing::Test::RecordProperty("lost", std::to_string(tally.lost));
}

TEST_F(shm_ring_test, lossy_producer_and_consumer_processes_account_for_every_record) {
    const auto name = fresh("lossymp");
    constexpr std::uint64_t capacity = 512, per_producer = 200'000;
    constexpr int producers = 2;
    constexpr std::uint64_t total = per_producer * producers;
    auto setup = om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true,
                                              om::group = "g");
    (void)setup.poll([](const auto&) {});
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t consumer = spawn([&] {
        auto c = om::stream<lossy_ring>::open(name, om::group = "g", om::size = 16,
                                              om::max_wait = std::chrono::milliseconds(1));
        lossy_tally tally;
        std::vector<std::uint64_t> last(producers, 0);  // per producer: 1 + the last value seen
        bool held = true;
        while (tally.delivered + tally.lost < total) {
            (void)c.poll([&](const om::window<block64>& w) {
                const std::vector<block64> copy(w.begin(), w.end());
                tally.check(w);
                for (const auto& b : w) {
                    const std::uint64_t p = b.w[0] >> 32, i = b.w[0] & 0xffff'ffffu;
                    if (p >= producers || i + 1 <= last[p])
                        ++tally.errors;  // another lap's record, or out of order
                    else
                        last[p] = i + 1;
                }
                // Slow, and meanwhile the producers hammer the ring: the
                // window must stay as it was handed out.
                for (int again = 0; again < 8; ++again) {
                    std::size_t k = 0;
                    for (const auto& b : w)
                        held = held && b.w == copy[k++].w;
                }
            });
        }
        const std::uint64_t out[4] = {tally.delivered, tally.lost, tally.errors, held ? 1u : 0u};
        return ::write(report[1], out, sizeof out) == static_cast<ssize_t>(sizeof out);
    });
    std::vector<pid_t> writers;
    for (int p = 0; p < producers; ++p)
        writers.push_back(spawn([=] {
            auto s = om::stream<lossy_ring>::open(name);
            for (std::uint64_t i = 0; i < per_producer; ++i)
                s.append(block_of((std::uint64_t(p) << 32) | i));
            return true;
        }));
    for (pid_t w : writers)
        EXPECT_EQ(wait_exit(w), 0);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    int status = 0;
    while (::waitpid(consumer, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill_and_reap(consumer);
            FAIL() << "the consumer did not account for every record";
        }
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::uint64_t got[4] = {};
    ASSERT_EQ(::read(report[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
    ::close(report[0]);
    ::close(report[1]);
    EXPECT_EQ(got[2], 0u) << "torn, misplaced or unaccounted records";
    EXPECT_EQ(got[3], 1u) << "a window changed while its callback ran";
    EXPECT_EQ(got[0] + got[1], total);
    const auto md = setup.metadata();
    EXPECT_EQ(md.appended, total);
    EXPECT_EQ(md.groups.at(0).lost, got[1]);
    EXPECT_EQ(md.groups.at(0).committed, total);
    ::testing::Test::RecordProperty("lost", std::to_string(got[1]));
}

// A group counts as lost only records that were overwritten. A producer
// that a pin refuses (group A holds window 0..3) overwrites nothing, so
// group B, waiting at 15 meanwhile, loses nothing either.
TEST_F(shm_ring_test, a_lossy_group_loses_nothing_to_a_producer_that_a_pin_refuses) {
    const auto name = fresh("lossyrefused");
    constexpr std::uint64_t capacity = 16;
    auto a = om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true,
                                          om::group = "A", om::size = 4);
    auto b = om::stream<lossy_ring>::open(name, om::group = "B", om::size = 5);
    (void)a.poll([](const auto&) {});
    (void)b.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name);
    producer.append(blocks(0, capacity));  // full
    for (int i = 0; i < 3; ++i)            // B has 0..14: 15 waits for four more
        ASSERT_TRUE(b.poll([](const auto&) {}));
    std::uint64_t overwrote = 0, b_windows = 0;
    ASSERT_TRUE(a.poll([&](const om::window<block64>& w) {
        ASSERT_EQ(w.first_seq(), 0u);
        std::atomic<bool> stop{false};
        std::thread hammer([&] {
            auto p = om::stream<lossy_ring>::open(name);
            const auto batch = blocks(capacity, capacity);  // would overwrite 0..15
            while (!stop.load())
                overwrote += p.try_append(batch) ? 1 : 0;
        });
        const auto until = std::chrono::steady_clock::now() + 300ms;
        while (std::chrono::steady_clock::now() < until && group_lost(b, "B") == 0)
            b_windows += b.poll([](const auto&) {}) ? 1 : 0;
        stop.store(true);
        hammer.join();
    }));
    EXPECT_EQ(overwrote, 0u);
    EXPECT_EQ(b_windows, 0u);
    EXPECT_EQ(group_lost(b, "B"), 0u);
    producer.append(blocks(capacity, 4));  // A committed 0..3: they go
    std::vector<std::uint64_t> lost, got;
    ASSERT_TRUE(b.poll([&](const om::window<block64>& w) {
        lost.push_back(w.lost());
        for (const auto& x : w)
            got.push_back(x.w[0]);
    }));
    EXPECT_EQ(got, (std::vector<std::uint64_t>{15, 16, 17, 18, 19}));
    EXPECT_EQ(lost, (std::vector<std::uint64_t>{0}));
}

// A producer killed after it published how far it would overwrite but
// before it claimed (or retracted) overwrote nothing: its intent, left
// behind, costs no group a record.
TEST_F(shm_ring_test, a_lossy_group_loses_nothing_to_the_intent_of_a_killed_producer) {
    const auto name = fresh("lossydeadintent");
    constexpr std::uint64_t capacity = 16;
    auto consumer =
        om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true, om::size = 4);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name);
    producer.append(blocks(0, capacity));            // full
    ASSERT_TRUE(consumer.poll([](const auto&) {}));  // 0..3: the group is at 4
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = spawn([&] {
        auto p = om::stream<lossy_ring>::open(name);
        p.append(blocks(capacity, 4));  // over 0..3, processed: a producer slot of its own
        (void)!::write(ready[1], "x", 1);
        ::pause();
        return true;
    });
    char x;
    ASSERT_EQ(::read(ready[0], &x, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    kill_and_reap(child);
    // What the child would have left, killed between its intent and its claim.
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, ("omstream." + name).c_str(), bip::read_write);
    bip::mapped_region region(shm, bip::read_write, 0, om::detail::ring_header_bytes);
    auto& h = *static_cast<om::detail::ring_header*>(region.get_address());
    const std::uint64_t tail = h.tail.load();
    ASSERT_EQ(tail, capacity + 4);
    bool found = false;
    for (auto& p : h.producers)
        if (p.token.load() == static_cast<std::uint64_t>(child)) {
            p.from.store(tail);
            p.to.store(tail + 8);  // would overwrite 4..11
            found = true;
        }
    ASSERT_TRUE(found);
    std::vector<std::uint64_t> lost, got;
    while (consumer.poll([&](const om::window<block64>& w) {
        lost.push_back(w.lost());
        for (const auto& b : w)
            got.push_back(b.w[0]);
    })) {
    }
    EXPECT_EQ(got, (std::vector<std::uint64_t>{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                                               19}));
    EXPECT_EQ(lost, (std::vector<std::uint64_t>{0, 0, 0, 0}));
    EXPECT_EQ(group_lost(consumer, "default"), 0u);
}

TEST_F(shm_ring_test, a_lossy_ring_is_not_held_up_by_a_consumer_killed_in_its_callback) {
    const auto name = fresh("lossykill");
    constexpr std::uint64_t capacity = 64;
    auto survivor = om::stream<lossy_ring>::open(name, om::capacity = capacity, om::lossy = true,
                                                 om::group = "g", om::size = 8);
    (void)survivor.poll([](const auto&) {});
    auto producer = om::stream<lossy_ring>::open(name);
    producer.append(blocks(0, capacity));
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = spawn([&] {
        auto c = om::stream<lossy_ring>::open(name, om::group = "g", om::size = 8);
        return c.poll([&](const auto&) {
            (void)::write(ready[1], "x", 1);
            ::pause();  // dies here holding window 0..7
        });
    });
    char x;
    ASSERT_EQ(::read(ready[0], &x, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    // While the child lives, its window stops the producer.
    auto impatient = om::stream<lossy_ring>::open(name, om::timeout = std::chrono::nanoseconds(0));
    EXPECT_FALSE(impatient.try_append(block_of(capacity)));
    kill_and_reap(child);
    const auto killed_at = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < 10; ++i)  // a dead member's pin holds nobody up for long
        producer.append(blocks(capacity * (i + 1), capacity));
    producer.append(block_of(11 * capacity));
    const auto stall = std::chrono::steady_clock::now() - killed_at;
    EXPECT_LT(stall, 2s) << std::chrono::duration_cast<std::chrono::milliseconds>(stall).count()
                         << " ms";
    constexpr std::uint64_t appended = 11 * capacity + 1;
    std::uint64_t delivered = 0, told = 0, errors = 0;
    auto take = [&](const om::window<block64>& w) {
        told += w.lost();
        std::uint64_t seq = w.first_seq();
        for (auto e : w.entries())
            errors += !intact(e.data()) || e.data().w[0] != e.seq() || e.seq() != seq++;
        delivered += w.size();
    };
    const auto until = std::chrono::steady_clock::now() + 10s;
    // The survivor gets what is left, and gives the dead member's window up
    // as lost once it sees the member is gone (it looks every 20 ms).
    while (survivor.metadata().groups.at(0).in_flight != 0 ||
           delivered + group_lost(survivor, "g") < appended) {
        ASSERT_LT(std::chrono::steady_clock::now(), until);
        if (!survivor.poll(take))
            std::this_thread::yield();
    }
    EXPECT_EQ(errors, 0u);
    EXPECT_EQ(delivered, capacity);  // the last lap
    EXPECT_EQ(group_lost(survivor, "g"), appended - capacity);
    // Records lost are told on the next window (the dead window's, if it
    // was given up after the last one).
    producer.append(blocks(appended, 8));
    ASSERT_TRUE(survivor.poll(take));
    EXPECT_EQ(told, appended - capacity);
    const auto md = survivor.metadata();
    EXPECT_EQ(md.groups.at(0).lost, appended - capacity);
    EXPECT_EQ(md.groups.at(0).committed, appended + 8);
}

// Removing the last group leaves the ring as it was before any group
// joined, from where that group had got to: producers go on until
// `capacity` records wait for consumers to come.
TEST_F(shm_ring_test, removing_the_last_group_lets_producers_go_on_from_where_it_had_got_to) {
    const auto name = fresh("remove-last");
    auto producer = om::stream<ring>::open(name, om::capacity = 8);
    {
        auto consumer = om::stream<ring>::open(name, om::group = "g", om::size = 1);
        for (std::uint64_t i = 0; i < 20; ++i) {
            producer.append(i);
            ASSERT_TRUE(consumer.poll([](const auto&) {}));
        }
    }
    ASSERT_TRUE(ring::remove_group(name, "g"));
    for (std::uint64_t i = 20; i < 28; ++i)
        EXPECT_TRUE(producer.try_append(i)) << i;
    EXPECT_FALSE(producer.try_append(28));  // full: kept for the next group
    auto next = om::stream<ring>::open(name, om::group = "h", om::size = 8);
    std::vector<std::uint64_t> got;
    ASSERT_TRUE(
        next.poll([&](const om::window<std::uint64_t>& w) { got.assign(w.begin(), w.end()); }));
    EXPECT_EQ(got, (std::vector<std::uint64_t>{20, 21, 22, 23, 24, 25, 26, 27}));
    EXPECT_TRUE(producer.try_append(28));
}

TEST_F(shm_ring_test, a_group_beyond_the_64th_is_refused_naming_the_stream) {
    const auto name = fresh("many-groups");
    for (int i = 0; i < 64; ++i)
        (void)om::stream<ring>::open(name, om::group = "g" + std::to_string(i))
            .poll([](const auto&) {});
    try {
        (void)om::stream<ring>::open(name, om::group = "one-too-many").poll([](const auto&) {});
        FAIL() << "a 65th group was accepted";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code_value(), om::errc::full);
        EXPECT_NE(std::string(e.what()).find("stream '" + name + "' has 64 consumer groups"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
