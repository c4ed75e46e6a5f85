// detail::work_ahead, the helper thread that maps a log's next segment
// ahead of need, and a log rolling segments under producer and reader
// threads of one process (these run under ThreadSanitizer in CI, unlike the
// forking mapped_log tests).
#include <omstream/detail/work_ahead.hpp>
#include <omstream/stream.hpp>

#include "support/log_home.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace om = omstream;
using om::detail::work_ahead;
using namespace std::chrono_literals;

TEST(work_ahead, the_taker_of_the_key_gets_the_result_once) {
    work_ahead<std::shared_ptr<int>> ahead;
    ahead.start(7, [] { return std::make_shared<int>(42); });
    EXPECT_TRUE(ahead.has(7));
    EXPECT_FALSE(ahead.take(8).has_value()) << "another key's taker got the result";
    const auto result = ahead.take(7);
    ASSERT_TRUE(result.has_value());
    ASSERT_NE(*result, nullptr);
    EXPECT_EQ(**result, 42);
    EXPECT_FALSE(ahead.has(7));
    EXPECT_FALSE(ahead.take(7).has_value()) << "a result was handed out twice";
}

TEST(work_ahead, a_job_that_throws_gives_an_empty_result) {
    work_ahead<std::shared_ptr<int>> ahead;
    ahead.start(1, []() -> std::shared_ptr<int> { throw std::runtime_error("disk full"); });
    const auto result = ahead.take(1);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, nullptr);
}

TEST(work_ahead, start_never_waits_for_a_job_under_way) {
    work_ahead<int> ahead;
    std::latch release(1);
    ahead.start(1, [&] {
        release.wait();
        return 1;
    });
    // Another key while the first job runs: dropped, at once.
    const auto before = std::chrono::steady_clock::now();
    ahead.start(2, [] { return 2; });
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    EXPECT_TRUE(ahead.has(1));
    EXPECT_FALSE(ahead.has(2));
    release.count_down();
    EXPECT_EQ(ahead.take(1).value_or(0), 1);
    // A finished job nobody took gives way to the next one.
    ahead.start(3, [] { return 3; });
    EXPECT_TRUE(ahead.has(3));
    while (!ahead.has(4)) {
        ahead.start(4, [] { return 4; });
        std::this_thread::yield();
    }
    EXPECT_EQ(ahead.take(4).value_or(0), 4);
    EXPECT_FALSE(ahead.take(3).has_value());
}

TEST(work_ahead, destruction_waits_for_a_job_under_way) {
    std::atomic<bool> finished{false};
    {
        work_ahead<int> ahead;
        ahead.start(1, [&] {
            std::this_thread::sleep_for(20ms);
            finished = true;
            return 1;
        });
    }
    EXPECT_TRUE(finished.load());
}

TEST(work_ahead, the_helper_runs_off_the_cpu_of_the_thread_that_asked) {
    if (std::thread::hardware_concurrency() < 2)
        GTEST_SKIP() << "one CPU: nowhere else to run";
    cpu_set_t all;
    if (::sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2)
        GTEST_SKIP() << "this process may use one CPU only";
    int first = 0;
    while (!CPU_ISSET(first, &all))
        ++first;
    std::vector<int> helper_cpus;
    std::thread asker([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
        work_ahead<std::vector<int>> ahead;
        ahead.start(1, [] {
            cpu_set_t mine;
            ::sched_getaffinity(0, sizeof mine, &mine);
            std::vector<int> cpus;
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &mine))
                    cpus.push_back(c);
            return cpus;
        });
        helper_cpus = ahead.take(1).value_or(std::vector<int>{});
    });
    asker.join();
    ASSERT_FALSE(helper_cpus.empty());
    for (int c : helper_cpus)
        EXPECT_NE(c, first) << "the helper may run on the pinned asker's CPU";
}

// A producer thread and a reader thread of one process through several
// rolls of 1 MiB segments, each mapped ahead: every record, in order.
TEST(work_ahead, a_log_rolls_segments_mapped_ahead_under_threads) {
    using u64_log = om::mapped_log<std::uint64_t>;
    using u64_stream = om::stream<u64_log>;
    const std::string name = "work-ahead-" + std::to_string(::getpid());
    u64_log::remove(name);
    constexpr std::uint64_t total = 5 * ((std::uint64_t{1} << 20) / 32);  // five segments
    {
        auto reader = u64_stream::open(name, om::segment_size = std::size_t{1} << 20,
                                       om::size = 256, om::max_wait = 1ms);
        std::thread producer([&] {
            auto p = u64_stream::open(name);
            for (std::uint64_t i = 0; i < total; ++i)
                p.append(i);
        });
        std::uint64_t expected = 0;
        bool ordered = true;
        const auto until = std::chrono::steady_clock::now() + 60s;
        while (expected < total && std::chrono::steady_clock::now() < until)
            (void)reader.poll([&](const om::window<std::uint64_t>& w) {
                for (auto v : w)
                    ordered = ordered && v == expected++;
            });
        producer.join();
        EXPECT_TRUE(ordered);
        EXPECT_EQ(expected, total);
    }
    u64_log::remove(name);
}
