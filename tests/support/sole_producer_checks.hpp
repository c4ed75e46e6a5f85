// The sole-producer claim of the storages shared between processes
// (detail/sole_producer.hpp), checked the same way on each: a producer alone
// claims with a plain store, a second one revokes that right without
// waiting for the first to append again, and producers that keep taking and
// revoking it never claim a record's place twice.
#pragma once

#include "processes.hpp"

#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace omstream::testing {

// Checks that `values` (producer << 32 | index) hold records 0..counts[p]-1
// of each producer p once, in order.
inline void expect_each_once_in_order(const std::vector<std::uint64_t>& values,
                                      const std::vector<std::uint64_t>& counts) {
    std::vector<std::uint64_t> next(counts.size(), 0);
    for (const std::uint64_t v : values) {
        const auto p = static_cast<std::size_t>(v >> 32);
        ASSERT_LT(p, next.size());
        ASSERT_EQ(v & 0xffffffffu, next[p]) << "producer " << p << ": lost, twice or out of order";
        ++next[p];
    }
    EXPECT_EQ(next, counts);
}

// The first producer takes the right and stays idle while a child appends:
// the child must not wait for it; both then claim with a compare-and-swap,
// and once the last of them closes the next producer alone takes it again.
// With `child_killed`, the child dies by SIGKILL after its appends, its
// handle still open: its slot must not keep the word shared either.
// `sole_word(name)` reads the storage's word.
template <class Storage>
void revoke_an_idle_sole_producer(const std::string& name,
                                  const std::function<std::uint64_t(const std::string&)>& sole_word,
                                  bool child_killed = false) {
    using stream = omstream::stream<Storage>;
    const auto pid = static_cast<std::uint64_t>(::getpid());
    auto consumer = stream::open(name, omstream::capacity = 1024);
    (void)consumer.poll([](const auto&) {});
    std::vector<std::uint64_t> got;
    auto drain = [&] {
        while (consumer.poll([&](const omstream::window<std::uint64_t>& w) {
            got.insert(got.end(), w.begin(), w.end());
        })) {
        }
    };
    {
        auto first = stream::open(name);
        for (std::uint64_t i = 0; i < 100; ++i)
            first.append(i);
        EXPECT_EQ(sole_word(name) >> 8, pid) << "the first producer holds it";
        drain();
        const pid_t child = spawn([&] {
            auto second = stream::open(name);
            for (std::uint64_t i = 0; i < 300; ++i)
                second.append((std::uint64_t{1} << 32) | i);
            if (child_killed)
                ::raise(SIGKILL);
            return true;
        });
        std::thread reader([&] {
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (got.size() < 400 && std::chrono::steady_clock::now() < until)
                drain();
        });
        EXPECT_EQ(wait_exit_within(child, std::chrono::seconds(20)),
                  child_killed ? 128 + SIGKILL : 0);
        reader.join();
        EXPECT_EQ(sole_word(name), omstream::detail::sole_shared);
        for (std::uint64_t i = 100; i < 200; ++i)
            first.append(i);
        drain();
    }
    EXPECT_EQ(sole_word(name), omstream::detail::sole_nobody)
        << "the last producer to close hands it back";
    auto third = stream::open(name);
    third.append(std::uint64_t{2} << 32);
    EXPECT_EQ(sole_word(name) >> 8, pid);
    drain();
    expect_each_once_in_order(got, {200, 300, 1});
    EXPECT_EQ(consumer.metadata().dropped, 0u);
}

// Producer handles of two processes open, append and close over and over:
// one appends 100 records per handle as fast as it can, the other one
// record per handle (alone, or as a batch). So the first keeps taking the
// right to claim plainly and the second keeps revoking it, often while the
// first is in the middle of a claim. Every record still comes once, in each
// producer's order. `rounds` handles of the first, `singles` of the second.
template <class Storage>
void producers_taking_turns(const std::string& name, std::uint64_t rounds = 1000,
                            std::uint64_t singles = 3000) {
    using stream = omstream::stream<Storage>;
    constexpr std::uint64_t per_round = 100;
    auto consumer = stream::open(name, omstream::capacity = 1024, omstream::size = 1);
    (void)consumer.poll([](const auto&) {});
    std::vector<pid_t> children;
    children.push_back(spawn([=] {
        std::uint64_t i = 0;
        for (std::uint64_t r = 0; r < rounds; ++r) {
            auto s = stream::open(name);
            for (std::uint64_t k = 0; k < per_round; ++k)
                s.append(i++);
        }
        return true;
    }));
    children.push_back(spawn([=] {
        for (std::uint64_t i = 0; i < singles; ++i) {
            auto s = stream::open(name);
            if (i % 2 == 0)
                s.append((std::uint64_t{1} << 32) | i);
            else  // a batch of one: the claim of a range
                s.append(std::vector<std::uint64_t>{(std::uint64_t{1} << 32) | i});
        }
        return true;
    }));
    std::vector<std::uint64_t> got;
    const std::uint64_t total = rounds * per_round + singles;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got.size() < total && std::chrono::steady_clock::now() < until)
        (void)consumer.poll([&](const omstream::window<std::uint64_t>& w) {
            got.insert(got.end(), w.begin(), w.end());
        });
    for (const pid_t c : children)
        EXPECT_EQ(wait_exit_within(c, std::chrono::seconds(20)), 0);
    expect_each_once_in_order(got, {rounds * per_round, singles});
    EXPECT_EQ(consumer.metadata().dropped, 0u);
}

}  // namespace omstream::testing
