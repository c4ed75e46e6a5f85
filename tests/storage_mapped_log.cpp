// mapped_log<T>: persistence across processes, segments, retention, seeks,
// recovery after SIGKILL, corruption, a full disk and bad files. What every
// storage must do is in the conformance suite.
#include <omstream/stream.hpp>

#include "support/log_home.hpp"

#include "support/processes.hpp"
#include "support/sole_producer_checks.hpp"
#include "support/stalling_record.hpp"
#include "support/throwing_record.hpp"
#include "support/view_noting_window.hpp"
#include "support/wake_rounds.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace om = omstream;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using u64_log = om::mapped_log<std::uint64_t>;
using u64_stream = om::stream<u64_log>;

using omstream::testing::in_child;
using omstream::testing::kill_and_reap;
using omstream::testing::spawn;
using omstream::testing::stalling;
using omstream::testing::wait_exit;

// A counter that children and the parent share (anonymous shared memory).
struct shared_counters {
    std::atomic<std::uint64_t>* values;
    explicit shared_counters(std::size_t n = 4) {
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        values = new (p) std::atomic<std::uint64_t>[n]();
    }
    ~shared_counters() { ::munmap(values, 4096); }
    std::atomic<std::uint64_t>& operator[](std::size_t i) { return values[i]; }
};

int kill_rounds() {
    const char* v = std::getenv("OMSTREAM_KILL_ROUNDS");
    return v != nullptr ? std::atoi(v) : 200;
}

std::vector<char> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_file(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::size_t segment_files(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir))
        n += e.path().extension() == ".seg";
    return n;
}

struct mapped_log_test : ::testing::Test {
    std::vector<std::string> names;
    std::string fresh(const std::string& what) {
        names.push_back("logtest-" + what + "-" + std::to_string(::getpid()));
        u64_log::remove(names.back());
        return names.back();
    }
    fs::path dir_of(const std::string& name) { return fs::path(om::testing::log_home) / name; }
    // Flips a byte of the record in frame `index` of segment 0 of a log of
    // 8-byte records (32-byte frames), so that it fails its CRC.
    void damage_record(const std::string& name, std::size_t index) {
        const auto path = dir_of(name) / om::detail::segment_file_name(0);
        auto bytes = read_file(path);
        bytes[om::detail::segment_header_bytes + index * 32 + 24] ^= 0x55;
        write_file(path, bytes);
    }
    void TearDown() override {
        for (const auto& n : names)
            u64_log::remove(n);
    }
};

// Every record a new group gets, flattened.
template <class Stream>
std::vector<typename Stream::record_type> drain(Stream& s) {
    std::vector<typename Stream::record_type> all;
    while (s.poll([&](const auto& w) { all.insert(all.end(), w.begin(), w.end()); })) {
    }
    return all;
}

TEST_F(mapped_log_test, records_groups_and_timestamps_survive_every_process) {
    const auto name = fresh("persist");
    const std::string entries_file = ::testing::TempDir() + name + ".entries";
    // Process 1 appends, lets group "g" process 300 records, and exits.
    ASSERT_EQ(in_child([&] {
                  auto s = u64_stream::open(name, om::group = "g", om::size = 100, om::keep = true);
                  for (std::uint64_t i = 0; i < 1000; ++i)
                      s.append(i * 3);
                  for (int w = 0; w < 3; ++w)
                      if (!s.poll([](const auto&) {}))
                          return false;
                  std::ofstream out(entries_file);
                  for (const auto& e : s.buffer())
                      out << e.seq << ' ' << e.created_ns << ' ' << e.data << '\n';
                  return true;
              }),
              0);
    // Process 2 opens it anew: the group resumes at 300; a new group replays all.
    ASSERT_EQ(in_child([&] {
                  auto g = u64_stream::open(name, om::group = "g", om::size = 100);
                  std::uint64_t first = 0;
                  if (!g.poll([&](const om::window<std::uint64_t>& w) { first = w.first_seq(); }))
                      return false;
                  if (first != 300)
                      return false;
                  auto replay = u64_stream::open(name, om::group = "replay", om::size = 1000);
                  std::ifstream in(entries_file);
                  bool same = true;
                  std::size_t n = 0;
                  if (!replay.poll([&](const om::window<std::uint64_t>& w) {
                          for (auto e : w.entries()) {
                              std::uint64_t seq = 0, data = 0;
                              std::int64_t created = 0;
                              in >> seq >> created >> data;
                              same = same && seq == e.seq() && data == e.data() &&
                                     created ==
                                         om::detail::to_ns<std::chrono::system_clock>(e.created());
                              ++n;
                          }
                      }))
                      return false;
                  return same && n == 1000;
              }),
              0);
    std::remove(entries_file.c_str());
}

TEST_F(mapped_log_test, time_windows_keep_their_alignment_across_restarts) {
    using clock = om::basic_manual_clock<struct log_alignment>;
    using timed = om::stream<u64_log, om::basic_fixed_time_window<clock>>;
    const auto name = fresh("align");
    const auto t0 = clock::time_point(1'000'000s);
    clock::set(t0);
    {
        auto s = timed::open(name, om::interval = 1s);
        (void)s.poll([](const auto&) {});  // the group's grid starts at t0
        for (int i = 0; i < 5; ++i) {
            s.append(std::uint64_t(i));
            clock::advance(700ms);
        }
        // At t0 + 3.5 s: [t0, t0+1) {0, 1}, [t0+1, t0+2) {2}, [t0+2, t0+3) {3, 4}.
        std::vector<std::size_t> sizes;
        while (s.poll([&](const auto& w) { sizes.push_back(w.size()); })) {
        }
        ASSERT_EQ(sizes, (std::vector<std::size_t>{2, 1, 2}));
    }
    // Another process, at t0 + 4.7 s, continues the same grid: it owes the
    // window [t0+3, t0+4) (empty), and nothing else yet. A grid restarted at
    // open would owe nothing.
    ASSERT_EQ(in_child([&] {
                  clock::set(t0 + 4700ms);
                  auto s = timed::open(name, om::interval = 1s);
                  std::vector<std::size_t> sizes;
                  while (s.poll([&](const auto& w) { sizes.push_back(w.size()); })) {
                  }
                  return sizes == std::vector<std::size_t>{0};
              }),
              0);
    auto s = timed::open(name, om::interval = 1s);
    const auto md = s.metadata();
    ASSERT_EQ(md.groups.size(), 1u);
    EXPECT_EQ(md.groups[0].committed, 5u);
    EXPECT_EQ(md.groups[0].windows, 4u);
}

// See the same test of shm_ring: the log's consumers wait on a word in its
// mapped header, woken the same way.
TEST_F(mapped_log_test, every_record_wakes_a_consumer_asleep_in_another_process) {
    EXPECT_EQ(om::testing::wake_rounds<u64_log>(fresh("wake"), 1000, true), "");
    EXPECT_EQ(om::testing::wake_rounds<u64_log>(fresh("wake-forked"), 1000, false), "");
}

TEST_F(mapped_log_test, segments_roll_and_a_tailing_reader_never_stalls_at_a_boundary) {
    using text_log = om::mapped_log<std::string>;
    const auto name = fresh("roll");
    constexpr std::uint64_t total = 6000;
    auto consumer = om::stream<text_log>::open(name, om::segment_size = 65536, om::size = 7,
                                               om::max_wait = 1ms);
    (void)consumer.poll([](const auto&) {});
    std::thread producer([&] {
        auto p = om::stream<text_log>::open(name);
        std::mt19937 random(7);
        for (std::uint64_t i = 0; i < total; ++i)
            p.append(std::to_string(i) + std::string(random() % 1500, 'x'));
    });
    std::uint64_t expected = 0;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (expected < total && std::chrono::steady_clock::now() < until) {
        (void)consumer.poll([&](const om::window<std::string>& w) {
            for (auto e : w.entries()) {
                ASSERT_EQ(e.seq(), expected);
                const std::string r = e.data();
                ASSERT_EQ(r.substr(0, r.find('x')), std::to_string(expected));
                ++expected;
            }
        });
    }
    producer.join();
    EXPECT_EQ(expected, total);
    // ~4.5 MB in 64 KiB segments: many rolls, and the processed ones are gone.
    EXPECT_LE(segment_files(dir_of(name)), 3u);
}

// Segments of 1 MiB and more are mapped ahead by a helper thread a quarter
// of the way into the segment before: the append that crosses into one
// finds it created and its pages faulted in.
constexpr std::size_t ahead_segment = std::size_t{1} << 20;
constexpr std::uint64_t u64_per_segment = ahead_segment / 32;  // 32-byte frames

// Waits (up to 20 s) until segment k of a log exists at its full size.
bool segment_appears(const fs::path& dir, std::uint64_t k) {
    const auto path = dir / om::detail::segment_file_name(k);
    const auto until = std::chrono::steady_clock::now() + 20s;
    std::error_code ec;
    while (std::chrono::steady_clock::now() < until) {
        if (fs::exists(path, ec) && fs::file_size(path, ec) >= ahead_segment)
            return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

TEST_F(mapped_log_test, the_next_segment_is_mapped_ahead_and_a_prepared_one_never_reached_goes) {
    const auto name = fresh("ahead");
    {
        auto p = u64_stream::open(name, om::segment_size = ahead_segment, om::keep = true);
        for (std::uint64_t i = 0; i < u64_per_segment / 4 - 64; ++i)
            p.append(i);
        EXPECT_FALSE(fs::exists(dir_of(name) / om::detail::segment_file_name(1)))
            << "a log smaller than a quarter segment got a second segment";
        for (std::uint64_t i = u64_per_segment / 4 - 64; i < u64_per_segment / 4 + 64; ++i)
            p.append(i);
        ASSERT_TRUE(segment_appears(dir_of(name), 1))
            << "a quarter into segment 0, segment 1 was not created ahead";
        EXPECT_EQ(p.metadata().appended, u64_per_segment / 4 + 64);
        // Through three rolls, each next segment mapped ahead.
        for (std::uint64_t i = u64_per_segment / 4 + 64;
             i < 3 * u64_per_segment + u64_per_segment / 2; ++i)
            p.append(i);
        ASSERT_TRUE(segment_appears(dir_of(name), 4));
    }
    // The last handle is gone: the next opener recovers the log, and the
    // segment prepared ahead but never reached goes with the rest of what
    // lies past the end.
    auto s = u64_stream::open(name, om::size = 4096);
    EXPECT_FALSE(fs::exists(dir_of(name) / om::detail::segment_file_name(4)));
    EXPECT_EQ(s.metadata().recovered_cut_bytes, 0u);
    const auto all = drain(s);
    ASSERT_EQ(all.size(), 3 * u64_per_segment + u64_per_segment / 2);
    for (std::uint64_t i = 0; i < all.size(); ++i)
        ASSERT_EQ(all[i], i);
    // Appends go on, into segment 4 again.
    for (std::uint64_t i = all.size(); i < 5 * u64_per_segment; ++i)
        s.append(i);
    EXPECT_EQ(drain(s).size(), 5 * u64_per_segment - all.size());
}

// A child of fork() appends through its parent's handle (from a producer
// slot of its own) even while the parent's helper maps a segment ahead,
// which the child never waits for; it may not consume under the parent's
// group membership.
TEST_F(mapped_log_test, a_child_forked_while_a_segment_is_mapped_ahead_appends_through_rolls) {
    const auto name = fresh("aheadfork");
    auto p = u64_stream::open(name, om::segment_size = ahead_segment, om::keep = true,
                              om::group = "parent", om::size = 1);
    std::uint64_t next = 0, parent_saw = 0;
    auto consume = [&] {
        while (p.poll([&](const om::window<std::uint64_t>& w) {
            EXPECT_EQ(*w.begin() & 0xffffffffffu, parent_saw);
            ++parent_saw;
        })) {
        }
    };
    // Each round crosses a quarter of a segment and forks at once, while the
    // helper thread maps the next segment: the child has no such thread.
    for (int round = 0; round < 4; ++round) {
        const std::uint64_t to = (next / (u64_per_segment / 4) + 1) * (u64_per_segment / 4) + 1;
        for (; next < to; ++next)
            p.append(next);
        consume();  // the parent's handle has joined its group
        const std::uint64_t from = next;
        const std::uint64_t child_records = u64_per_segment + u64_per_segment / 3;
        const pid_t child = om::testing::spawn([&] {
            ::alarm(60);
            for (std::uint64_t i = 0; i < child_records; ++i)
                p.append((std::uint64_t{1} << 40) + from + i);
            try {
                (void)p.poll([](const auto&) {});
                return false;
            } catch (const om::error& e) {
                return e.code() == om::errc::inherited_handle;
            }
        });
        ASSERT_EQ(om::testing::wait_exit(child), 0) << "round " << round;
        next += child_records;  // the child's records took these sequence numbers
        for (std::uint64_t i = 0; i < u64_per_segment / 5; ++i, ++next)
            p.append(next);
    }
    consume();
    EXPECT_EQ(parent_saw, next);
    auto s = u64_stream::open(name, om::group = "check", om::size = 1);
    const auto all = drain(s);
    ASSERT_EQ(all.size(), next);
    for (std::uint64_t i = 0; i < all.size(); ++i)
        ASSERT_EQ(all[i] & 0xffffffffffu, i) << "sequence " << i;
}

// A fork() while another thread waits for the helper's job (an append
// that reached the next segment first): the child's work_ahead, inherited
// mid-wait, answers at once. It used to hold its mutex while waiting, and
// the child inherited that mutex locked.
TEST_F(mapped_log_test, a_fork_while_a_thread_waits_for_the_helper_leaves_the_child_free) {
    om::detail::work_ahead<int> ahead;
    std::latch release(1);
    ahead.start(1, [&] {
        release.wait();
        return 1;
    });
    std::atomic<bool> taking{false};
    std::thread taker([&] {
        taking = true;
        EXPECT_EQ(ahead.take(1).value_or(0), 1);
    });
    while (!taking)
        std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // well inside take() by now
    const int code = om::testing::in_child([&] {
        ::alarm(10);
        ahead.start(2, [] { return 2; });  // nothing starts in a child
        return !ahead.has(1) && !ahead.has(2) && !ahead.take(1) && !ahead.idle();
    });
    release.count_down();
    taker.join();
    EXPECT_EQ(code, 0) << "the child hung on, or was handed, its parent's helper job";
}

// A log keeps a mapping per segment it has written or read; it must not keep
// a file descriptor per segment too, or a long log exhausts the process's
// limit. A child with a limit of 64 descriptors writes and replays 200.
// The sole-producer word of a log (detail/sole_producer.hpp), read from its header file.
std::uint64_t sole_word(const std::string& name) {
    const auto bytes = read_file(fs::path(om::testing::log_home) / name / "header");
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + offsetof(om::detail::log_header, sole), sizeof word);
    return word;
}

TEST_F(mapped_log_test,
       a_second_producer_revokes_an_idle_sole_producer_and_nothing_is_claimed_twice) {
    if (!om::detail::atomic_position_store())
        GTEST_SKIP() << "no atomic 16-byte store on this CPU: every producer claims shared";
    om::testing::revoke_an_idle_sole_producer<u64_log>(fresh("sole"), sole_word);
    om::testing::revoke_an_idle_sole_producer<u64_log>(fresh("sole-killed"), sole_word, true);
}

TEST_F(mapped_log_test, producers_that_keep_opening_and_closing_never_claim_a_record_twice) {
    om::testing::producers_taking_turns<u64_log>(fresh("solechurn"));
}

TEST_F(mapped_log_test, a_long_log_needs_no_descriptor_per_segment) {
    const auto name = fresh("many-segments");
    constexpr std::size_t segment = 65536, per_segment = segment / 32;
    constexpr std::uint64_t total = 200 * per_segment;
    EXPECT_EQ(in_child([&] {
                  const rlimit limit{64, 64};
                  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
                      return false;
                  auto s = u64_stream::open(name, om::segment_size = segment, om::keep = true,
                                            om::size = 4096);
                  for (std::uint64_t i = 0; i < total; ++i)
                      s.append(i);
                  std::uint64_t next = 0;
                  while (s.poll([&](const om::window<std::uint64_t>& w) {
                      for (std::uint64_t v : w)
                          if (v != next++)
                              throw std::runtime_error("out of order");
                  })) {
                  }
                  return next == total;
              }),
              0);
}

TEST_F(mapped_log_test, keep_retains_processed_segments_for_replay) {
    const auto name = fresh("keep");
    auto s = u64_stream::open(name, om::segment_size = 65536, om::keep = true, om::size = 1000);
    for (std::uint64_t i = 0; i < 10'000; ++i)
        s.append(i);
    EXPECT_EQ(drain(s).size(), 10'000u);
    EXPECT_GE(segment_files(dir_of(name)), 5u);  // 320 KB of frames in 64 KiB segments
    auto replay = u64_stream::open(name, om::group = "later", om::size = 1000);
    const auto all = drain(replay);
    ASSERT_EQ(all.size(), 10'000u);
    EXPECT_EQ(all.back(), 9'999u);
    EXPECT_EQ(replay.metadata().first_seq, 0u);
}

TEST_F(mapped_log_test, max_bytes_deletes_the_oldest_segments_and_counts_what_a_group_lost) {
    const auto name = fresh("maxbytes");
    auto slow =
        u64_stream::open(name, om::segment_size = 65536, om::max_bytes = 4 * 81920, om::size = 1);
    (void)slow.poll([](const auto&) {});  // joins at 0, then reads nothing
    auto producer = u64_stream::open(name);
    for (std::uint64_t i = 0; i < 20'000; ++i)
        producer.append(i);
    EXPECT_LE(segment_files(dir_of(name)), 5u);
    std::uint64_t first = 0;
    ASSERT_TRUE(slow.poll([&](const om::window<std::uint64_t>& w) { first = *w.begin(); }));
    EXPECT_GT(first, 0u);
    const auto md = slow.metadata();
    EXPECT_EQ(md.groups.at(0).expired, first);  // every record it never got is counted
    EXPECT_GT(md.first_seq, 0u);
}

TEST_F(mapped_log_test, max_age_deletes_segments_of_old_records) {
    // Records are stamped by the emitter's clock, and their age is measured
    // on it: a manual one makes 100 minutes pass over 10,000 appends.
    using clock = om::basic_manual_clock<struct log_age>;
    using aged = om::stream<u64_log, om::basic_count_window<clock>>;
    const auto name = fresh("maxage");
    clock::set(clock::time_point(std::chrono::hours(24)));
    auto s = aged::open(name, om::segment_size = 65536, om::max_age = std::chrono::hours(1),
                        om::keep = true);
    for (std::uint64_t i = 0; i < 10'000; ++i) {
        if (i % 100 == 0)
            clock::advance(std::chrono::minutes(1));
        s.append(i);
    }
    // Segment 0 (records 0-2047) is all over an hour old: gone; segment 1
    // starts with a record younger than that: kept.
    EXPECT_EQ(segment_files(dir_of(name)), 4u);
    EXPECT_EQ(s.metadata().first_seq, 65536u / 32);
}

// Records that grow past max_age while nobody appends go before a group
// behind reads them: the group gets the newest segment (whole segments
// are kept or deleted), never the oldest one first and then a gap.
TEST_F(mapped_log_test, max_age_deletes_old_segments_before_a_late_consumer_reads_them) {
    using clock = om::basic_manual_clock<struct log_age_later>;
    using aged = om::stream<u64_log, om::basic_count_window<clock>>;
    const auto name = fresh("maxagelate");
    clock::set(clock::time_point(std::chrono::hours(24)));
    constexpr std::uint64_t per_segment = 65536 / 32, n = 5 * per_segment + 10;
    {
        auto p = aged::open(name, om::segment_size = 65536, om::max_age = std::chrono::hours(1));
        for (std::uint64_t i = 0; i < n; ++i)
            p.append(i);
    }
    clock::advance(std::chrono::hours(2));  // every record is older than max_age now
    auto c = aged::open(name, om::size = 5);
    std::vector<std::uint64_t> got;
    while (c.poll(
        [&](const om::window<std::uint64_t>& w) { got.insert(got.end(), w.begin(), w.end()); })) {
    }
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front(), 5 * per_segment) << "an expired segment was delivered first";
    for (std::size_t i = 1; i < got.size(); ++i)
        ASSERT_EQ(got[i], got[i - 1] + 1);
    EXPECT_EQ(c.metadata().groups.at(0).expired, 5 * per_segment);
}

// A window whose callback threw comes again (S9); if retention deleted its
// records meanwhile, they are counted as expired and never replaced by
// others under its sequence numbers.
TEST_F(mapped_log_test, a_window_whose_records_retention_deleted_is_not_redelivered_as_others) {
    const auto name = fresh("redeliver");
    auto p = u64_stream::open(name, om::segment_size = 65536, om::max_bytes = 3 * (65536 + 16384));
    auto c = u64_stream::open(name, om::size = 10, om::group = "g");
    (void)c.poll([](const auto&) {});  // joins before any record exists
    for (std::uint64_t i = 0; i < 100; ++i)
        p.append(i);
    ASSERT_TRUE(c.poll([](const om::window<std::uint64_t>&) {}));  // [0, 10) committed
    EXPECT_THROW(c.poll([](const om::window<std::uint64_t>&) { throw std::runtime_error("no"); }),
                 std::runtime_error);  // [10, 20) handed out, given up
    for (std::uint64_t i = 100; i < 12'000; ++i)
        p.append(i);  // max_bytes deletes the segments that held them
    const std::uint64_t oldest = p.metadata().first_seq;
    ASSERT_GT(oldest, 20u);
    std::vector<std::uint64_t> got;
    while (c.poll([&](const om::window<std::uint64_t>& w) {
        for (auto e : w.entries()) {
            EXPECT_EQ(e.seq(), e.data()) << "a record delivered under another's sequence number";
            got.push_back(e.data());
        }
    })) {
    }
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front(), oldest);
    for (std::size_t i = 1; i < got.size(); ++i)
        ASSERT_EQ(got[i], got[i - 1] + 1) << "a record delivered twice or skipped";
    EXPECT_EQ(c.metadata().groups.at(0).expired, oldest - 10) << "the lost window was not counted";
}

TEST_F(mapped_log_test, a_new_group_starts_where_it_is_told) {
    const auto name = fresh("seek");
    std::int64_t middle_ns = 0;
    {
        auto p = u64_stream::open(name, om::segment_size = 65536);
        for (std::uint64_t i = 0; i < 20'000; ++i) {
            if (i == 12'345)
                middle_ns =
                    om::detail::to_ns<std::chrono::system_clock>(std::chrono::system_clock::now());
            p.append(i);
        }
    }
    auto first_of = [&](auto start, const char* group) {
        auto s = u64_stream::open(name, om::group = group, om::start = start, om::size = 1);
        std::uint64_t v = ~0ull;
        (void)s.poll([&](const om::window<std::uint64_t>& w) { v = *w.begin(); });
        return v;
    };
    EXPECT_EQ(first_of(om::from_oldest, "oldest"), 0u);
    EXPECT_EQ(first_of(om::from_seq(17'001), "seq"), 17'001u);
    EXPECT_EQ(first_of(om::from_seq(5), "seq5"), 5u);
    const auto at_time = first_of(
        om::from_time(std::chrono::system_clock::time_point(std::chrono::nanoseconds(middle_ns))),
        "time");
    EXPECT_LE(at_time, 12'345u);
    EXPECT_GE(at_time, 12'000u);  // records stamped within the same clock tick may precede it
    auto newest =
        u64_stream::open(name, om::group = "newest", om::start = om::from_newest, om::size = 1);
    EXPECT_FALSE(newest.poll([](const auto&) {}));
    auto p = u64_stream::open(name);
    p.append(99'999u);
    std::uint64_t v = 0;
    ASSERT_TRUE(newest.poll([&](const om::window<std::uint64_t>& w) { v = *w.begin(); }));
    EXPECT_EQ(v, 99'999u);
}

// A group far behind reads the log in parts (about 1 MiB of frames at first),
// so that its first window does not wait for the whole backlog to be read
// and checked: its emitter's first view holds about 32,768 of the 200,000
// records, and the second poll reads nothing more while that part lasts.
// Reading on, the group gets every window that ends before a
// damaged record and is followed by a sound one (the emitter saw that the
// window ends there); the next poll refuses the damage with errc::corrupt.
TEST_F(mapped_log_test, a_group_far_behind_reads_the_log_in_parts_up_to_a_damaged_record) {
    const auto name = fresh("far-behind");
    constexpr std::uint64_t n = 200'000;  // 6.4 MB of 32-byte frames, in one 8 MiB segment
    {
        auto p = u64_stream::open(name, om::segment_size = 8 << 20);
        std::vector<std::uint64_t> batch(1000);
        for (std::uint64_t i = 0; i < n; i += batch.size()) {
            std::iota(batch.begin(), batch.end(), i);
            p.append(batch);
        }
        p.storage().sync();  // the next open trusts the frames and leaves the check to readers
    }
    constexpr std::uint64_t damaged = n - 5;
    damage_record(name, damaged);
    auto& views = om::testing::view_noting_window::views;
    views.clear();
    auto s = om::stream<u64_log, om::testing::view_noting_window>::open(name);
    std::uint64_t expected = 0;
    bool in_order = true;
    auto check = [&](const auto& w) {
        for (auto v : w)
            in_order = in_order && v == expected++;
    };
    ASSERT_TRUE(s.poll(check));
    ASSERT_TRUE(s.poll(check));
    ASSERT_EQ(views.size(), 2u);
    EXPECT_GT(views[0], 10'000u);
    EXPECT_LT(views[0], 40'000u) << "the first poll read the whole log";
    EXPECT_EQ(views[1], views[0] - 10) << "the second poll read on while a part was pending";
    try {
        while (s.poll(check)) {
        }
        ADD_FAILURE() << "the reader stopped without refusing the damaged record";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
    }
    EXPECT_TRUE(in_order);
    // Records 199,990-199,994 are sound, but their window needs the damaged one.
    EXPECT_EQ(expected, damaged - damaged % 10);
}

TEST_F(mapped_log_test, producer_processes_and_consumer_processes_share_a_log) {
    const auto name = fresh("mp");
    constexpr int producers = 3;
    constexpr std::uint64_t per_producer = 30'000;
    constexpr std::uint64_t total = per_producer * producers;
    { (void)u64_stream::open(name, om::segment_size = 1 << 20); }
    shared_counters counts;
    std::vector<pid_t> consumers;
    for (int c = 0; c < 2; ++c) {
        consumers.push_back(spawn([&] {
            auto s = u64_stream::open(name, om::group = "g", om::size = 64, om::max_wait = 2ms);
            std::vector<std::uint64_t> next(producers, 0);
            bool ordered = true;
            std::jthread watchdog([&](std::stop_token st) {
                while (!st.stop_requested() && counts[0].load() < total)
                    std::this_thread::sleep_for(1ms);
                s.stop();
            });
            s.apply([&](const om::window<std::uint64_t>& w) {
                for (auto v : w) {
                    const auto p = v >> 32, i = v & 0xffffffffu;
                    ordered = ordered && i >= next[p];
                    next[p] = i + 1;
                    counts[1].fetch_add(v, std::memory_order_relaxed);
                }
                counts[0].fetch_add(w.size());
            });
            return ordered;
        }));
    }
    std::vector<pid_t> producer_pids;
    for (int p = 0; p < producers; ++p)
        producer_pids.push_back(spawn([&, p] {
            auto s = u64_stream::open(name);
            for (std::uint64_t i = 0; i < per_producer; ++i)
                s.append((std::uint64_t(p) << 32) | i);
            return true;
        }));
    for (auto pid : producer_pids)
        EXPECT_EQ(wait_exit(pid), 0);
    for (auto pid : consumers)
        EXPECT_EQ(wait_exit(pid), 0);
    EXPECT_EQ(counts[0].load(), total);  // each record exactly once in the group
    std::uint64_t sum = 0;
    for (std::uint64_t p = 0; p < producers; ++p)
        sum += (p << 32) * per_producer + per_producer * (per_producer - 1) / 2;
    EXPECT_EQ(counts[1].load(), sum);
}

// A producer process killed between claim and commit: readers skip its
// record after a short stall, and other producers go on. The child
// appends through a handle of its own, or through its parent's.
void killed_between_claim_and_commit(const std::string& name, bool through_parents_handle) {
    using stall_log = om::mapped_log<stalling>;
    auto consumer = om::stream<stall_log>::open(name, om::size = 1);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<stall_log>::open(name);
    producer.append(stalling{1});
    const pid_t child = spawn([&] {
        stalling::stall = true;
        if (through_parents_handle) {
            producer.append(stalling{666});  // from a producer slot of the child's own
        } else {
            auto p = om::stream<stall_log>::open(name);
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
    EXPECT_LT(stall, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(stall).count()
                         << " ms";
    EXPECT_EQ(consumer.metadata().dropped, 1u);
}

TEST_F(mapped_log_test, a_producer_killed_between_claim_and_commit_stalls_nobody_for_long) {
    killed_between_claim_and_commit(fresh("stall"), false);
}

// Had the child appended from its parent's producer slot, its dead claim
// would look like the live parent's work in progress forever.
TEST_F(mapped_log_test,
       a_child_of_fork_killed_mid_append_through_its_parents_handle_stalls_nobody) {
    killed_between_claim_and_commit(fresh("stall-inherited"), true);
}

// A producer killed after its claim skipped the rest of a segment (its
// padding published) but before its records in the next one: readers wait
// at the next segment's start, for a claim whose intent names where it
// began; they must recognise it and skip it all the same.
TEST_F(mapped_log_test, a_producer_killed_in_a_claim_that_crosses_a_segment_stalls_nobody) {
    using stall_log = om::mapped_log<stalling>;
    const auto name = fresh("stall-roll");
    constexpr std::size_t segment = 65536, per_segment = segment / 32;
    auto consumer = om::stream<stall_log>::open(name, om::segment_size = segment, om::size = 1);
    (void)consumer.poll([](const auto&) {});
    auto producer = om::stream<stall_log>::open(name, om::segment_size = segment);
    for (std::uint64_t i = 0; i < per_segment - 2; ++i)
        producer.append(stalling{i});  // two frames (64 bytes) left in segment 0
    const pid_t child = spawn([&] {
        stalling::stall = true;
        auto p = om::stream<stall_log>::open(name);
        const std::vector<stalling> batch(4, stalling{666});
        p.append(batch);  // pads segment 0, claims at the start of segment 1, never commits
        return true;
    });
    while (consumer.metadata().appended < per_segment + 2)
        std::this_thread::yield();
    kill_and_reap(child);
    const auto killed_at = std::chrono::steady_clock::now();
    producer.append(stalling{per_segment - 2});
    std::vector<std::uint64_t> got;
    while (got.size() < per_segment - 1 && std::chrono::steady_clock::now() - killed_at < 5s)
        (void)consumer.poll([&](const om::window<stalling>& w) {
            for (const auto& s : w)
                got.push_back(s.value);
        });
    const auto stall = std::chrono::steady_clock::now() - killed_at;
    ASSERT_EQ(got.size(), per_segment - 1) << "readers stalled at the dead claim";
    for (std::uint64_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], i);  // never the torn 666
    EXPECT_LT(stall, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(stall).count()
                         << " ms";
    EXPECT_EQ(consumer.metadata().dropped, 4u);
}

// Recovery after a producer died inside its claim, once every handle is
// closed: the records other producers published after that claim (their
// append returned) stay, under the sequence numbers they had; only the dead
// claim is skipped, and counted. Also for a claim that crossed into the
// next segment (its padding published, its records not).
TEST_F(mapped_log_test, recovery_skips_a_dead_claim_and_keeps_what_others_published_after_it) {
    using stall_log = om::mapped_log<stalling>;
    constexpr std::size_t segment = 65536, per_segment = segment / 32;
    for (const bool crossing : {false, true}) {
        SCOPED_TRACE(crossing ? "a claim crossing into the next segment" : "a claim in a segment");
        const auto name = fresh(crossing ? "recover-dead-roll" : "recover-dead");
        const std::uint64_t before = crossing ? per_segment - 2 : 10;  // crossing: 64 bytes left
        {
            auto producer = om::stream<stall_log>::open(name, om::segment_size = segment);
            for (std::uint64_t i = 0; i < before; ++i)
                producer.append(stalling{i});
            const pid_t child = spawn([&] {
                stalling::stall = true;
                auto p = om::stream<stall_log>::open(name);
                const std::vector<stalling> batch(4, stalling{666});
                p.append(batch);  // claims 4 records (128 bytes), never commits
                return true;
            });
            while (producer.metadata().appended < before + 4)
                std::this_thread::yield();
            for (std::uint64_t i = 0; i < 10; ++i)
                producer.append(stalling{1000 + i});  // acknowledged
            kill_and_reap(child);
        }  // every handle closed: the next open recovers
        auto reader = om::stream<stall_log>::open(name, om::group = "after", om::size = 1);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> got;  // (seq, value)
        while (reader.poll([&](const om::window<stalling>& w) {
            for (const auto& e : w.entries())
                got.emplace_back(e.seq(), e.data().value);
        })) {
        }
        ASSERT_EQ(got.size(), before + 10) << "recovery cut records published after the dead claim";
        for (std::uint64_t i = 0; i < before; ++i)
            ASSERT_EQ(got[i], std::make_pair(i, i));
        for (std::uint64_t i = 0; i < 10; ++i)
            ASSERT_EQ(got[before + i], std::make_pair(before + 4 + i, 1000 + i));
        const auto md = reader.metadata();
        EXPECT_EQ(md.appended, before + 14);
        EXPECT_EQ(md.dropped, 4u);
        EXPECT_EQ(md.recovered_cut_bytes, 0u) << md.recovery_note;
        auto producer = om::stream<stall_log>::open(name);
        producer.append(stalling{7});  // numbered after them, never reusing theirs
        EXPECT_EQ(producer.buffer().back().seq, before + 14);
    }
}

// A codec that throws after the space was claimed: the append throws, its
// claim is given up (counted as dropped), and readers go on at once instead
// of waiting for a record that its live producer will never publish.
TEST_F(mapped_log_test, a_codec_that_throws_mid_append_stalls_nobody) {
    using throwing = om::testing::throwing;
    using throwing_log = om::mapped_log<throwing>;
    const auto name = fresh("codec-throws");
    auto consumer = om::stream<throwing_log>::open(name, om::size = 1);
    auto producer = om::stream<throwing_log>::open(name);
    producer.append(throwing{1});
    throwing::fail = true;
    const std::vector<throwing> batch(3, throwing{666});
    EXPECT_THROW(producer.append(batch), std::runtime_error);
    EXPECT_THROW(producer.append(throwing{666}), std::runtime_error);
    throwing::fail = false;
    producer.append(throwing{2});
    std::vector<std::uint64_t> got;
    const auto since = std::chrono::steady_clock::now();
    while (got.size() < 2 && std::chrono::steady_clock::now() - since < 5s)
        (void)consumer.poll([&](const om::window<throwing>& w) {
            for (const auto& t : w)
                got.push_back(t.value);
        });
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_LT(std::chrono::steady_clock::now() - since, 1s) << "a reader waited for the claim";
    EXPECT_EQ(consumer.metadata().dropped, 4u);
}

// buffer() goes past a dead producer's claim to what others published
// after it, as readers do, instead of stopping there.
// A batch given up after some of its later frames were published (and
// indexed): a group that resumes right after it, or a seek into it, must
// land on the records after it, never inside it on records given up.
TEST_F(mapped_log_test, a_seek_never_lands_inside_a_batch_that_was_given_up) {
    using throwing = om::testing::throwing;
    using throwing_stream = om::stream<om::mapped_log<throwing>>;
    const auto name = fresh("given-up-batch");
    auto producer = throwing_stream::open(name, om::segment_size = 65536);
    auto values_of = [&](throwing_stream& c, std::size_t want) {
        std::vector<std::uint64_t> got;
        const auto since = std::chrono::steady_clock::now();
        while (got.size() < want && std::chrono::steady_clock::now() - since < 2s)
            (void)c.poll([&](const om::window<throwing>& w) {
                for (const auto& t : w)
                    got.push_back(t.value);
            });
        return got;
    };
    {
        auto consumer = throwing_stream::open(name, om::size = 1, om::group = "g");
        for (std::uint64_t i = 0; i < 10; ++i)
            producer.append(throwing{i});
        std::vector<throwing> batch;
        for (std::uint64_t v = 100; v < 120; ++v)
            batch.push_back({v});
        throwing::fail_on = 110;  // records 100-109 of the batch are written, then it throws
        EXPECT_THROW(producer.append(batch), std::runtime_error);
        throwing::fail_on = ~0ull;
        EXPECT_EQ(values_of(consumer, 10).size(), 10u);
        (void)consumer.poll([](const auto&) {});  // steps over the batch: the group is at 30
    }
    for (std::uint64_t v = 200; v < 210; ++v)
        producer.append(throwing{v});
    auto resumed = throwing_stream::open(name, om::size = 1, om::group = "g");
    EXPECT_EQ(values_of(resumed, 10),
              (std::vector<std::uint64_t>{200, 201, 202, 203, 204, 205, 206, 207, 208, 209}));
    auto seeking =
        throwing_stream::open(name, om::size = 1, om::group = "s", om::start = om::from_seq(15));
    const auto seen = values_of(seeking, 10);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), 200u) << "a record of the batch given up was delivered";
}

TEST_F(mapped_log_test, buffer_skips_a_dead_producers_claim) {
    using stall_log = om::mapped_log<stalling>;
    const auto name = fresh("buffer-dead");
    auto producer = om::stream<stall_log>::open(name, om::keep = true);
    producer.append(stalling{1});
    const pid_t child = spawn([&] {
        stalling::stall = true;
        auto p = om::stream<stall_log>::open(name);
        p.append(stalling{666});  // claims seq 1, never commits
        return true;
    });
    while (producer.metadata().appended < 2)
        std::this_thread::yield();
    producer.append(stalling{2});
    kill_and_reap(child);
    std::vector<std::uint64_t> values;
    for (const auto& e : producer.buffer())
        values.push_back(e.data.value);
    EXPECT_EQ(values, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(producer.metadata().dropped, 1u);
}

TEST_F(mapped_log_test, kill_loop_producers_leave_exactly_a_prefix_with_every_acknowledged_record) {
    const auto name = fresh("pkill");
    const int rounds = kill_rounds();
    shared_counters acked;
    std::mt19937 random(1234);
    std::uint64_t checked = 0;  // records verified so far (the check group's position)
    for (int round = 0; round < rounds; ++round) {
        const pid_t child = spawn([&] {
            auto p = u64_stream::open(name, om::segment_size = 1 << 20);
            std::vector<std::uint64_t> batch(1 + round % 5);
            for (std::uint64_t v = p.metadata().appended;; v += batch.size()) {
                for (std::size_t i = 0; i < batch.size(); ++i)
                    batch[i] = v + i;
                p.append(batch);  // value == sequence number
                acked[0].store(v + batch.size(), std::memory_order_release);
            }
            return true;
        });
        // Kill it at a random point once it is appending.
        const std::uint64_t before = acked[0].load();
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (acked[0].load() == before && std::chrono::steady_clock::now() < give_up)
            std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 1000));
        kill_and_reap(child);
        // Reopen alone: recovery runs; the log is a prefix 0..n-1 with n >= acknowledged.
        auto check = u64_stream::open(name, om::group = "check", om::size = 1);
        const auto md = check.metadata();
        ASSERT_GE(md.appended, acked[0].load()) << "round " << round << ": an acknowledged append "
                                                << "was lost";
        std::uint64_t seen = checked;
        while (check.poll([&](const om::window<std::uint64_t>& w) {
            for (auto e : w.entries()) {
                ASSERT_EQ(e.seq(), seen) << "round " << round;
                ASSERT_EQ(e.data(), seen) << "round " << round << ": a torn or foreign record";
                ++seen;
            }
        })) {
        }
        ASSERT_EQ(seen, md.appended) << "round " << round << ": not a prefix";
        checked = seen;
    }
    EXPECT_GT(checked, 0u);
}

TEST_F(mapped_log_test, kill_loop_consumers_lose_nothing_committed) {
    const auto name = fresh("ckill");
    const int rounds = kill_rounds();
    constexpr std::uint64_t per_round = 40;  // 5 windows of 8
    const std::uint64_t total = per_round * static_cast<std::uint64_t>(rounds);
    {
        auto p = u64_stream::open(name, om::segment_size = 1 << 20);
        auto g = u64_stream::open(name, om::group = "g");
        (void)g.poll([](const auto&) {});  // the group exists before the records
        for (std::uint64_t i = 0; i < total; ++i)
            p.append(i);
    }
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    std::vector<int> seen(total, 0);
    auto collect = [&] {
        std::uint64_t buffer[512];
        for (;;) {
            const auto n = ::read(pipe_fds[0], buffer, sizeof buffer);
            if (n <= 0)
                break;
            for (std::size_t i = 0; i < static_cast<std::size_t>(n) / 8; ++i)
                ++seen[buffer[i]];
        }
    };
    std::mt19937 random(99);
    for (int round = 0; round < rounds; ++round) {
        const pid_t child = spawn([&] {
            auto c = u64_stream::open(name, om::group = "g", om::size = 8);
            c.apply([&](const om::window<std::uint64_t>& w) {
                for (auto v : w)
                    (void)::write(pipe_fds[1], &v, 8);  // delivered (maybe not committed)
            });
            return true;
        });
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 1500));
        kill_and_reap(child);
        collect();
    }
    // A last consumer finishes the job: everything comes at least once, and
    // what was committed does not come again.
    auto last = u64_stream::open(name, om::group = "g", om::size = 8);
    const std::uint64_t committed_before = last.metadata().groups.at(0).committed;
    std::uint64_t first_after = ~0ull;
    while (last.poll([&](const om::window<std::uint64_t>& w) {
        first_after = std::min(first_after, *w.begin());
        for (auto v : w)
            ++seen[v];
    })) {
    }
    collect();
    if (first_after != ~0ull) {
        EXPECT_EQ(first_after, committed_before);
    }
    for (std::uint64_t i = 0; i < total; ++i)
        ASSERT_GE(seen[i], 1) << "record " << i << " was never delivered";
    EXPECT_EQ(last.metadata().groups.at(0).committed, total);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST_F(mapped_log_test, corruption_rounds_keep_exactly_the_valid_prefix) {
    const auto name = fresh("corrupt");
    constexpr std::size_t frame = 32;  // 24-byte header + 8-byte record
    constexpr std::size_t per_segment = 65536 / frame;
    constexpr std::uint64_t total = 3 * per_segment;  // three full segments
    {
        auto p = u64_stream::open(name, om::segment_size = 65536);
        for (std::uint64_t i = 0; i < total; ++i)
            p.append(i);
    }
    const auto dir = dir_of(name);
    std::vector<std::pair<fs::path, std::vector<char>>> pristine;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file())
            pristine.emplace_back(e.path(), read_file(e.path()));
    // Each cut is also said through the diagnostic handler (stderr by default).
    static std::vector<std::string> said;
    said.clear();
    struct restore {
        om::diagnostic_handler previous =
            om::set_diagnostic_handler([](std::string_view m) { said.emplace_back(m); });
        ~restore() { om::set_diagnostic_handler(previous); }
    } handler;
    std::mt19937_64 random(2024);
    for (int round = 0; round < 100; ++round) {
        for (const auto& e : fs::directory_iterator(dir))
            if (e.path().extension() == ".seg")
                fs::remove(e.path());
        for (const auto& [path, bytes] : pristine)
            write_file(path, bytes);
        const std::uint64_t k = random() % 3;
        const std::size_t offset = random() % 65536;
        const std::size_t length = 1 + random() % 5000;
        {
            const auto path = dir / om::detail::segment_file_name(k);
            auto bytes = read_file(path);
            for (std::size_t i = 0;
                 i < length && om::detail::segment_header_bytes + offset + i < bytes.size(); ++i)
                bytes[om::detail::segment_header_bytes + offset + i] ^=
                    static_cast<char>(1 + random() % 255);  // never the same byte again
            write_file(path, bytes);
        }
        const std::uint64_t valid = k * per_segment + offset / frame;
        auto s = u64_stream::open(name, om::group = "r" + std::to_string(round), om::size = 1);
        const auto all = drain(s);
        ASSERT_EQ(all.size(), valid)
            << "round " << round << ": offset " << offset << " of segment " << k;
        for (std::uint64_t i = 0; i < all.size(); ++i)
            ASSERT_EQ(all[i], i) << "round " << round;
        const auto md = s.metadata();
        EXPECT_EQ(md.appended, valid);
        EXPECT_GT(md.recovered_cut_bytes, 0u);
        EXPECT_NE(md.recovery_note.find("sequence " + std::to_string(valid)), std::string::npos)
            << md.recovery_note;
        ASSERT_EQ(said.size(), static_cast<std::size_t>(round + 1)) << "round " << round;
        EXPECT_NE(said.back().find("mapped_log '" + name + "'"), std::string::npos) << said.back();
        EXPECT_NE(said.back().find(md.recovery_note), std::string::npos) << said.back();
    }
}

// A cut before records that later segments still hold (a damaged frame, a
// truncated segment) keeps those segment files aside, as they were, instead
// of deleting them: the log is the valid prefix, and nothing is destroyed.
TEST_F(mapped_log_test, a_cut_keeps_the_segments_it_removes_aside) {
    constexpr std::size_t segment = 65536, per_segment = segment / 32;
    for (const bool truncated : {false, true}) {
        SCOPED_TRACE(truncated ? "segment 1 truncated" : "a frame of segment 1 damaged");
        const auto name = fresh(truncated ? "aside-truncated" : "aside-damaged");
        {
            auto p = u64_stream::open(name, om::segment_size = segment, om::keep = true);
            for (std::uint64_t i = 0; i < 3 * per_segment + 10; ++i)
                p.append(i);  // segments 0-2 full, 10 records in 3
        }
        const auto dir = dir_of(name);
        auto path_of = [&](std::uint64_t k) { return dir / om::detail::segment_file_name(k); };
        const auto original_2 = read_file(path_of(2));
        auto damaged = read_file(path_of(1));
        if (truncated)
            damaged.resize(om::detail::segment_header_bytes + 100 * 32);
        else
            damaged[om::detail::segment_header_bytes + 100 * 32 + 24] ^= 0x55;
        write_file(path_of(1), damaged);
        auto s = u64_stream::open(name, om::size = 1);
        const auto md = s.metadata();
        EXPECT_EQ(md.appended, per_segment + 100);
        EXPECT_NE(md.recovery_note.find("kept aside"), std::string::npos) << md.recovery_note;
        EXPECT_EQ(drain(s).size(), per_segment + 100);
        auto aside = [&](std::uint64_t k) {  // the log's first recovery that cut
            return fs::path(path_of(k).string() + ".cut1");
        };
        EXPECT_EQ(read_file(aside(2)), original_2);
        EXPECT_TRUE(fs::exists(aside(3)));
        EXPECT_FALSE(fs::exists(path_of(2)));
        EXPECT_EQ(fs::exists(aside(1)), !truncated) << "the damaged segment, as it was";
        if (!truncated) {
            EXPECT_EQ(read_file(aside(1)), damaged);
        }
    }
}

TEST_F(mapped_log_test, after_a_sync_recovery_starts_at_the_checkpoint_and_readers_still_check) {
    const auto name = fresh("checkpoint");
    {
        auto p =
            u64_stream::open(name, om::segment_size = 65536, om::durability = om::sync_every(100));
        for (std::uint64_t i = 0; i < 1000; ++i)
            p.append(i);
    }
    // Damage record 10, below the checkpoint: open does not look there (it
    // trusts synced frames), but a reader refuses it rather than deliver it.
    damage_record(name, 10);
    auto s = u64_stream::open(name, om::size = 1000);
    EXPECT_EQ(s.metadata().appended, 1000u);
    try {
        (void)drain(s);
        FAIL() << "a corrupt record must not be delivered";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt);
        EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
    }
}

// What sync_every left unsynced when its producer stops goes to disk when the
// handle closes, and sync_always moves the checkpoint with every append: in
// both, record 5, damaged below the checkpoint, is not looked at by the next
// open (nothing is cut) but refused by the reader.
TEST_F(mapped_log_test,
       a_closing_producer_syncs_what_it_left_and_sync_always_moves_the_checkpoint) {
    for (const auto policy : {om::sync_every(1000, 1h), om::sync_always}) {
        SCOPED_TRACE(policy.always ? "sync_always" : "sync_every(1000, 1h)");
        const auto name = fresh(policy.always ? "sync-always" : "sync-on-close");
        {
            auto p = u64_stream::open(name, om::segment_size = 65536, om::durability = policy);
            for (std::uint64_t i = 0; i < 10; ++i)
                p.append(i);
        }
        damage_record(name, 5);
        auto s = u64_stream::open(name, om::size = 10);
        EXPECT_EQ(s.metadata().appended, 10u);
        EXPECT_EQ(s.metadata().recovered_cut_bytes, 0u) << s.metadata().recovery_note;
        EXPECT_THROW((void)drain(s), om::error);
    }
}

// The sequence number up to which the log's header says records are synced
// (its checkpoint), read from the header file.
std::uint64_t checkpoint_seq(const std::string& name) {
    const auto bytes = read_file(fs::path(om::testing::log_home) / name / "header");
    std::uint64_t seq = 0;
    std::memcpy(&seq, bytes.data() + offsetof(om::detail::log_header, checkpoint), sizeof seq);
    return seq;
}

// The checkpoint once it reaches `seq`, or as it stands after 10 s.
std::uint64_t synced_to(const std::string& name, std::uint64_t seq) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (checkpoint_seq(name) < seq && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    return checkpoint_seq(name);
}

// Runs `body` in a child that then waits, its handles open, until killed.
// Returns the child's pid once `body` has returned true, or -1 if it failed.
template <class Body>
pid_t spawn_then_pause(Body body) {
    int ready[2];
    if (::pipe(ready) != 0)
        return -1;
    const pid_t child = spawn([&] {
        ::close(ready[0]);
        const char c = 1;
        if (!body() || ::write(ready[1], &c, 1) != 1)
            return false;
        for (;;)
            ::pause();
    });
    ::close(ready[1]);
    char c = 0;
    const bool ready_seen = ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
    if (!ready_seen)
        ::waitpid(child, nullptr, 0);
    return ready_seen ? child : -1;
}

// sync_every(interval) syncs on time while its producer pauses: a producer
// process appends 10 records with a 20 ms interval, then waits without
// closing. The checkpoint (read from the header file) reaches its records
// anyway, and after a SIGKILL the next open trusts them: record 5, damaged
// below the checkpoint, is not cut by recovery, and the reader refuses it.
TEST_F(mapped_log_test, sync_every_interval_syncs_while_the_producer_pauses) {
    const auto name = fresh("sync-interval");
    // The producer never closes its handle: only the interval can sync.
    std::optional<u64_stream> p;
    const pid_t child = spawn_then_pause([&] {
        p = u64_stream::open(name, om::segment_size = 65536, om::durability = om::sync_every(20ms));
        for (std::uint64_t i = 0; i < 10; ++i)
            p->append(i);
        return true;
    });
    ASSERT_GT(child, 0) << "the producer failed: see its message";

    const std::uint64_t synced = synced_to(name, 10);
    kill_and_reap(child);
    EXPECT_EQ(synced, 10u) << "the paused producer's records were never synced";

    damage_record(name, 5);
    auto s = u64_stream::open(name, om::size = 10);
    EXPECT_EQ(s.metadata().appended, 10u);
    EXPECT_EQ(s.metadata().recovered_cut_bytes, 0u) << s.metadata().recovery_note;
    EXPECT_THROW((void)drain(s), om::error);
}

// The thread that syncs by interval belongs to the process that started
// it. A child of fork() appending through the parent's handle starts its
// own: the child's records reach the disk while it pauses (once the
// parent's thread has nothing left to sync, only the child's can move the
// checkpoint over them).
TEST_F(mapped_log_test, a_child_of_fork_syncs_by_interval_with_a_thread_of_its_own) {
    const auto name = fresh("sync-fork");
    auto p = u64_stream::open(name, om::segment_size = 65536, om::durability = om::sync_every(20ms),
                              om::size = 20);
    for (std::uint64_t i = 0; i < 10; ++i)
        p.append(i);
    ASSERT_EQ(synced_to(name, 10), 10u) << "the parent's records were never synced";
    const pid_t child = spawn_then_pause([&] {
        for (std::uint64_t i = 10; i < 20; ++i)
            p.append(i);
        return true;
    });
    ASSERT_GT(child, 0) << "the child failed: see its message";
    EXPECT_EQ(synced_to(name, 20), 20u) << "the child's records were never synced";
    kill_and_reap(child);
    const auto got = drain(p);
    ASSERT_EQ(got.size(), 20u);
    for (std::uint64_t i = 0; i < 20; ++i)
        EXPECT_EQ(got[i], i);
}

// fork() waits for a sync under way: a child born while the parent's thread
// held the log's segment table locked would hang at its first use of it.
// Children forked right after appends (each wakes the thread, which syncs
// every microsecond) append, sync and exit.
TEST_F(mapped_log_test, forking_while_the_interval_sync_runs_never_hangs_the_child) {
    const auto name = fresh("sync-fork-hang");
    auto p = u64_stream::open(name, om::segment_size = 65536, om::durability = om::sync_every(1us),
                              om::size = 1);
    int hung = 0, failed = 0;
    for (std::uint64_t i = 0; i < 300 && hung == 0; ++i) {
        p.append(i);
        const pid_t child = spawn([&] {
            p.append(1'000'000 + i);
            p.storage().sync();
            return true;
        });
        const int code = om::testing::wait_exit_within(child, 10s);
        hung += code == -1;
        failed += code != 0 && code != -1;
    }
    EXPECT_EQ(hung, 0) << "a child of fork() hung on a lock its parent's sync thread held";
    EXPECT_EQ(failed, 0) << "see the children's messages";
}

// Makes the creation of any further thread in this process fail with EAGAIN,
// as it does for a process at its limit (RLIMIT_NPROC, a cgroup's pids.max):
// a seccomp filter answers clone3() and clone() with that error (fork() too,
// so only for a child that forks no more). False where it cannot be set up.
bool refuse_new_threads() {
#if defined(__x86_64__)
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return false;
    try {
        std::thread([] {}).join();
        return false;  // the filter did not take
    } catch (const std::system_error&) {
        return true;
    }
#else
    return false;
#endif
}

// A producer that can start no thread still keeps its promises: sync_every's
// interval is checked by its appends (an append after the interval syncs
// what came before it and itself), and segments roll without the helper that
// maps the next one ahead. The child checks it all with threads refused.
TEST_F(mapped_log_test, a_producer_that_can_start_no_thread_syncs_at_its_appends_and_rolls) {
    const auto name = fresh("no-threads");
    constexpr std::uint64_t n = 10'000;  // about five segments of 64 KiB
    const int code = in_child([&] {
        if (!refuse_new_threads()) {
            std::fprintf(stderr, "cannot refuse threads here (seccomp): nothing checked\n");
            return true;
        }
        auto p = u64_stream::open(name, om::segment_size = 65536,
                                  om::durability = om::sync_every(50ms), om::size = n + 1);
        for (std::uint64_t i = 0; i < n; ++i)
            p.append(i);
        std::this_thread::sleep_for(60ms);  // the interval passes with no append
        p.append(n);
        const std::uint64_t synced = checkpoint_seq(name);
        if (synced != n + 1) {
            std::fprintf(stderr, "the append after the interval left the checkpoint at %llu\n",
                         static_cast<unsigned long long>(synced));
            return false;
        }
        const auto got = drain(p);
        for (std::uint64_t i = 0; i <= n; ++i)
            if (got.size() != n + 1 || got[i] != i)
                return false;
        return true;
    });
    EXPECT_EQ(code, 0) << "see the child's message";
}

TEST_F(mapped_log_test, every_append_durability_and_sync_work) {
    const auto name = fresh("durable");
    auto p = u64_stream::open(name, om::durability = om::sync_always, om::size = 10);
    for (std::uint64_t i = 0; i < 10; ++i)
        p.append(i);
    p.storage().sync();
    EXPECT_EQ(drain(p).size(), 10u);
}

// Appends to a log on a tmpfs of `tmpfs_size` until the disk is full:
// append says errc::no_space, and every record acknowledged before is
// read back after reopening.
void fill_a_small_disk(std::size_t segment_size, const char* tmpfs_size) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "mounting a small tmpfs needs root; run the tests as root to cover "
                        "a full disk";
    const fs::path mount_point =
        ::testing::TempDir() + "omstream-full-" + std::to_string(::getpid());
    fs::create_directories(mount_point);
    if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0,
                (std::string("size=") + tmpfs_size).c_str()) != 0) {
        const int err = errno;
        fs::remove(mount_point);
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(err)
                     << "); a full disk is not covered on this machine";
    }
    using text_stream = om::stream<om::mapped_log<std::string>>;
    std::uint64_t acknowledged = 0;
    bool refused = false;
    {
        auto s = text_stream::open("full", om::root = mount_point.string(),
                                   om::segment_size = segment_size, om::keep = true);
        try {
            for (;; ++acknowledged)
                s.append(std::to_string(acknowledged) + std::string(500, 'y'));
        } catch (const om::error& e) {
            refused = true;
            EXPECT_EQ(e.code(), om::errc::no_space) << e.what();
        }
    }
    EXPECT_TRUE(refused);
    EXPECT_GT(acknowledged, 100u);
    {
        auto s = text_stream::open("full", om::root = mount_point.string(), om::size = 1);
        std::uint64_t n = 0;
        while (s.poll([&](const om::window<std::string>& w) {
            const std::string r = *w.begin();
            EXPECT_EQ(r.substr(0, r.find('y')), std::to_string(n));
            ++n;
        })) {
        }
        EXPECT_EQ(n, acknowledged);
    }
    ::umount(mount_point.c_str());
    fs::remove(mount_point);
}

TEST_F(mapped_log_test, a_full_disk_is_no_space_and_earlier_records_survive) {
    fill_a_small_disk(65536, "2m");
}

// The segment mapped ahead meets the full disk first, on its helper
// thread: the append that needs it still says so.
TEST_F(mapped_log_test, a_full_disk_met_while_mapping_ahead_is_no_space_at_the_append) {
    fill_a_small_disk(ahead_segment, "5m");
}

TEST_F(mapped_log_test, a_newer_format_version_is_refused_naming_both) {
    const auto name = fresh("version");
    { (void)u64_stream::open(name); }
    const auto path = dir_of(name) / "header";
    auto bytes = read_file(path);
    const std::uint32_t newer = om::detail::log_format_version + 1;
    std::memcpy(bytes.data() + 8, &newer, 4);
    write_file(path, bytes);
    try {
        (void)u64_stream::open(name);
        FAIL() << "a newer format must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::version_mismatch);
        EXPECT_NE(std::string(e.what()).find("version " + std::to_string(newer)), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(std::to_string(om::detail::log_format_version)),
                  std::string::npos);
    }
}

TEST_F(mapped_log_test, a_segment_from_a_newer_format_is_refused) {
    const auto name = fresh("segversion");
    {
        auto p = u64_stream::open(name);
        p.append(1u);
    }
    const auto path = dir_of(name) / om::detail::segment_file_name(0);
    auto bytes = read_file(path);
    const std::uint32_t newer = om::detail::log_format_version + 1;
    std::memcpy(bytes.data() + 8, &newer, 4);
    write_file(path, bytes);
    try {
        (void)u64_stream::open(name);
        FAIL() << "a segment of a newer format must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::version_mismatch) << e.what();
    }
}

TEST_F(mapped_log_test, a_truncated_or_garbage_header_is_refused_with_advice) {
    const auto name = fresh("trunc");
    { (void)u64_stream::open(name); }
    const auto path = dir_of(name) / "header";
    fs::resize_file(path, 100);
    try {
        (void)u64_stream::open(name);
        FAIL() << "a truncated header must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt);
        EXPECT_NE(std::string(e.what()).find("remove"), std::string::npos) << e.what();
    }
    std::vector<char> garbage(om::detail::log_header_bytes);
    std::mt19937 random(5);
    for (auto& c : garbage)
        c = static_cast<char>(random());
    write_file(path, garbage);
    try {
        (void)u64_stream::open(name);
        FAIL() << "a garbage header must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
    }
}

// A header lost to a machine crash (zeros, or an empty file) beside segments
// full of records must not pass for a creator that died while setting the
// log up: that path sets the log up again and deletes every segment.
TEST_F(mapped_log_test, a_blank_header_beside_segments_is_refused_and_deletes_nothing) {
    for (const bool empty_file : {false, true}) {
        const auto name = fresh(empty_file ? "blank-empty" : "blank-zeros");
        {
            auto p = u64_stream::open(name);
            for (std::uint64_t i = 0; i < 5000; ++i)
                p.append(i);
        }
        const auto path = dir_of(name) / "header";
        if (empty_file)
            fs::resize_file(path, 0);
        else
            write_file(path, std::vector<char>(om::detail::log_header_bytes, 0));
        try {
            (void)u64_stream::open(name);
            FAIL() << "a blank header beside segments must be refused";
        } catch (const om::error& e) {
            EXPECT_EQ(e.code(), om::errc::corrupt) << e.what();
            EXPECT_NE(std::string(e.what()).find("header was lost"), std::string::npos) << e.what();
        }
        EXPECT_TRUE(fs::exists(dir_of(name) / om::detail::segment_file_name(0)))
            << "the records were deleted";
    }
}

TEST_F(mapped_log_test, a_read_only_directory_is_permission_denied) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to drop to nobody";
    const fs::path root = ::testing::TempDir() + "omstream-ro-" + std::to_string(::getpid());
    fs::create_directories(root);
    ::chmod(root.c_str(), 0755);  // owned by root: nobody may not write
    const int code = in_child([&] {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            return false;
        try {
            (void)u64_stream::open("denied", om::root = root.string());
        } catch (const om::error& e) {
            return e.code() == om::errc::permission_denied &&
                   std::string(e.what()).find("permission denied") != std::string::npos;
        }
        return false;
    });
    EXPECT_EQ(code, 0);
    fs::remove_all(root);
}

// om::permissions = 0660 shares a log with the group whatever the umask:
// the directory becomes 0770, every file 0660, and segments that a handle
// opened without the option creates (or another user creates) get the
// log's mode too. Two users of the log's group append and read.
TEST_F(mapped_log_test, permissions_0660_share_the_log_with_the_group) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to act as two users of one group";
    const fs::path root = ::testing::TempDir() + "omstream-group-" + std::to_string(::getpid());
    fs::create_directories(root);
    ::chmod(root.c_str(), 0755);
    const mode_t old_mask = ::umask(022);
    const std::uint64_t per_segment = ahead_segment / 32;
    {
        auto s = u64_stream::open("shared", om::root = root.string(), om::permissions = 0660u,
                                  om::segment_size = ahead_segment, om::keep = true);
        s.append(0u);
    }
    ::umask(old_mask);
    auto mode_of = [](const fs::path& p) {
        struct stat st {};
        ::stat(p.c_str(), &st);
        return st.st_mode & 07777;
    };
    EXPECT_EQ(mode_of(root / "shared"), 0770u);
    EXPECT_EQ(mode_of(root / "shared" / "header"), 0660u);
    EXPECT_EQ(mode_of(root / "shared" / om::detail::segment_file_name(0)), 0660u);
    // Another user of group 0 (root's) appends through a segment roll,
    // with the default umask and no permissions option.
    const int wrote = in_child([&] {
        if (::setresgid(0, 0, 0) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            return false;
        ::umask(022);
        try {
            auto s = u64_stream::open("shared", om::root = root.string());
            for (std::uint64_t i = 1; i < 2 * per_segment; ++i)
                s.append(i);
        } catch (const om::error&) {
            return false;
        }
        return true;
    });
    ASSERT_EQ(wrote, 0) << "a member of the log's group could not append";
    EXPECT_EQ(mode_of(root / "shared" / om::detail::segment_file_name(1)), 0660u);
    // A third user of the group reads what both wrote.
    const int read = in_child([&] {
        if (::setresgid(0, 0, 0) != 0 || ::setresuid(65533, 65533, 65533) != 0)
            return false;
        try {
            auto s = u64_stream::open("shared", om::root = root.string(), om::size = 4096);
            std::uint64_t next = 0;
            bool in_order = true;
            while (s.poll([&](const om::window<std::uint64_t>& w) {
                for (auto v : w)
                    in_order = in_order && v == next++;
            })) {
            }
            return in_order && next == 2 * per_segment;
        } catch (const om::error&) {
            return false;
        }
    });
    EXPECT_EQ(read, 0) << "a member of the log's group could not read it all";
    fs::remove_all(root);
}

// remove() while a handle has the log open, then a new log of the same
// name: the old handle keeps its own files and never creates (or deletes)
// segments in the new log's directory; it is told when it needs a segment.
TEST_F(mapped_log_test, a_handle_of_a_removed_log_never_writes_into_a_new_one_of_the_same_name) {
    const auto name = fresh("reborn");
    constexpr std::uint64_t per_segment = 65536 / 32;
    auto old = u64_stream::open(name, om::segment_size = 65536);
    for (std::uint64_t i = 0; i < 100; ++i)
        old.append(1'000'000 + i);
    ASSERT_TRUE(u64_log::remove(name));
    auto fresh_log = u64_stream::open(name, om::segment_size = 65536, om::size = 1);
    for (std::uint64_t i = 0; i < per_segment + 50; ++i)
        fresh_log.append(i);
    try {
        for (std::uint64_t i = 100; i < 3 * per_segment; ++i)
            old.append(1'000'000 + i);
        FAIL() << "the removed log's handle appended into a segment it could not have";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::io_error);
        EXPECT_NE(std::string(e.what()).find("was removed"), std::string::npos) << e.what();
    }
    std::vector<std::uint64_t> got;
    while (fresh_log.poll([&](const om::window<std::uint64_t>& w) { got.push_back(w[0]); })) {
    }
    ASSERT_EQ(got.size(), per_segment + 50) << "records of the removed log leaked into the new one";
    for (std::uint64_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], i);
    EXPECT_EQ(fresh_log.metadata().appended, per_segment + 50);
}

TEST_F(mapped_log_test, logs_are_listed_with_their_metadata_and_removed) {
    const auto name = fresh("list");
    {
        auto s = u64_stream::open(name);
        s.append(5u);
    }
    bool found = false;
    for (const auto& md : u64_log::list())
        if (md.name == name) {
            found = true;
            EXPECT_EQ(md.kind, "stream.mapped_log");
            EXPECT_EQ(md.appended, 1u);
            EXPECT_EQ(md.retained, 1u);
            EXPECT_NE(md.record_type.find("std::uint64_t"), std::string::npos);
        }
    EXPECT_TRUE(found);
    EXPECT_TRUE(u64_log::remove(name));
    EXPECT_FALSE(fs::exists(dir_of(name)));
    // After retention deleted segments, list() says what a handle says.
    const auto trimmed = fresh("list-trimmed");
    auto s =
        u64_stream::open(trimmed, om::segment_size = 65536, om::max_bytes = 3 * (65536 + 16384));
    for (std::uint64_t i = 0; i < 12'000; ++i)
        s.append(i);
    const auto mine = s.metadata();
    ASSERT_GT(mine.first_seq, 0u);
    found = false;
    for (const auto& md : u64_log::list())
        if (md.name == trimmed) {
            found = true;
            EXPECT_EQ(md.first_seq, mine.first_seq);
            EXPECT_EQ(md.retained, mine.retained);
        }
    EXPECT_TRUE(found);
}

TEST_F(mapped_log_test, bad_options_are_refused_with_the_range) {
    const auto name = fresh("options");
    try {
        (void)u64_stream::open(name, om::segment_size = 1000);
        FAIL();
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::invalid_option);
        EXPECT_NE(std::string(e.what()).find("64 KiB"), std::string::npos) << e.what();
    }
    auto refused = [&](auto&&... options) {
        try {
            (void)u64_stream::open(name, options...);
            return std::string("accepted");
        } catch (const om::error& e) {
            return e.code() == om::errc::invalid_option ? std::string(e.what())
                                                        : std::string("another error");
        }
    };
    EXPECT_NE(refused(om::segment_size = 100000).find("power of two"), std::string::npos);
    EXPECT_NE(refused(om::max_age = -1h).find("negative"), std::string::npos);
    // A policy that syncs by neither count nor time is refused where it is
    // made; sync_never, given explicitly, is a policy like the others.
    for (const auto make : {+[] { return om::sync_every(0); }, +[] { return om::sync_every(0ns); },
                            +[] { return om::sync_every(-1s); }}) {
        try {
            (void)make();
            ADD_FAILURE() << "a sync_every that never syncs was accepted";
        } catch (const om::error& e) {
            EXPECT_EQ(e.code(), om::errc::invalid_option);
            EXPECT_NE(std::string(e.what()).find("positive"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(refused(om::durability = om::sync_never), "accepted");
}

// A log's settings are fixed when it is created: another value at a later
// open is refused, naming both, rather than silently not applied.
TEST_F(mapped_log_test, an_open_asking_for_other_settings_than_the_logs_is_refused) {
    const auto name = fresh("settings");
    { (void)u64_stream::open(name, om::segment_size = 65536, om::max_bytes = 1u << 20); }
    auto refusal = [&](auto&&... options) -> std::string {
        try {
            (void)u64_stream::open(name, options...);
            return "accepted";
        } catch (const om::error& e) {
            EXPECT_EQ(e.code(), om::errc::invalid_option) << e.what();
            return e.what();
        }
    };
    EXPECT_NE(refusal(om::max_bytes = 163840).find("created with max_bytes 1048576"),
              std::string::npos);
    EXPECT_NE(refusal(om::keep = true).find("keep"), std::string::npos);
    EXPECT_NE(refusal(om::max_age = 1s).find("max_age"), std::string::npos);
    EXPECT_NE(refusal(om::segment_size = 1u << 20).find("segment_size 65536"), std::string::npos);
    EXPECT_NE(refusal(om::capacity = 100).find("capacity"), std::string::npos);
    // The same values, or none, open it.
    EXPECT_EQ(refusal(om::segment_size = 65536, om::max_bytes = 1u << 20, om::keep = false),
              "accepted");
    EXPECT_EQ(refusal(), "accepted");
}

}  // namespace
