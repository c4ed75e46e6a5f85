// Wake-ups between processes: a consumer in apply() in one process, a
// producer in another that appends one record at a time after a pause of
// varying length, so that some records come while the consumer polls, some
// while it goes to sleep and some while it sleeps. Every record must reach
// the consumer at once; a lost wake-up leaves it asleep (its sleeps have no
// timeout), which the round's deadline turns into a failure instead of a hang.
#pragma once

#include "processes.hpp"

#include <omstream/stream.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <sys/mman.h>

namespace omstream::testing {

struct wake_counters {
    std::atomic<std::uint64_t> received{0};  // records the consumer got, in order
    std::atomic<std::uint64_t> ready{0};     // 1 once the consumer has joined
};

// Runs `rounds` rounds with the consumer in a child process when
// `consumer_in_child`, else with the producer in one. Returns "" or what went wrong.
template <class Storage>
std::string wake_rounds(const std::string& name, std::uint64_t rounds, bool consumer_in_child) {
    using namespace std::chrono_literals;
    void* shared = ::mmap(nullptr, sizeof(wake_counters), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return "mmap failed";
    auto* counters = new (shared) wake_counters;
    auto open_consumer = [&] {
        auto c = stream<Storage>::open(name, omstream::size = 1, omstream::group = "wake");
        (void)c.poll([](const auto&) {});  // join before the first record
        counters->ready.store(1);
        return c;
    };
    auto consume = [&](stream<Storage>& c) {
        std::uint64_t expected = 0;
        c.apply([&](const window<std::uint64_t>& w) {
            for (std::uint64_t v : w) {
                if (v != expected)
                    throw std::runtime_error("out of order");
                counters->received.store(++expected);
            }
            if (expected == rounds)
                c.stop();
        });
        return expected == rounds;
    };
    // Appends first..last-1, each after a pause, and waits for each to arrive.
    std::string failure;
    auto produce = [&](std::uint64_t first, std::uint64_t last) {
        auto p = stream<Storage>::open(name);
        std::mt19937 random(static_cast<unsigned>(first + 7));
        for (std::uint64_t i = first; i < last && failure.empty(); ++i) {
            // 0-200 us: the consumer is polling, going to sleep or asleep.
            const auto until =
                std::chrono::steady_clock::now() + std::chrono::microseconds(random() % 200);
            while (std::chrono::steady_clock::now() < until) {
            }
            p.append(i);
            const auto deadline = std::chrono::steady_clock::now() + 5s;
            while (counters->received.load() < i + 1 && failure.empty()) {
                if (std::chrono::steady_clock::now() > deadline)
                    failure = "record " + std::to_string(i) + " of " + std::to_string(rounds) +
                              " did not wake the consumer within 5 s";
                std::this_thread::yield();
            }
        }
        return failure.empty();
    };
    if (consumer_in_child) {
        const pid_t child = spawn([&] {
            auto c = open_consumer();
            return consume(c);
        });
        while (counters->ready.load() == 0)
            std::this_thread::yield();
        produce(0, rounds);
        if (!failure.empty())
            kill_and_reap(child);
        else if (wait_exit(child) != 0)
            failure = "the consumer process failed";
    } else {
        // The first record comes from this process, whose producers then are
        // registered for the sleepers' barrier; the child that appends the
        // rest inherits that state and must not trust it.
        auto c = open_consumer();
        std::atomic<bool> consumed{false};
        std::thread consumer([&] {
            try {
                consumed = consume(c);
            } catch (const std::exception&) {
            }
        });
        produce(0, 1);
        const int code = failure.empty() ? in_child([&] { return produce(1, rounds); }) : 0;
        if (failure.empty() && code != 0)
            failure = "the producer process failed: a record did not wake the consumer";
        c.stop();
        consumer.join();
        if (failure.empty() && !consumed)
            failure = "the consumer got records out of order";
    }
    ::munmap(shared, sizeof(wake_counters));
    return failure;
}

}  // namespace omstream::testing
