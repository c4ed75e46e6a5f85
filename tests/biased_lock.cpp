// detail::biased_lock, the producers' lock of memory<T>: an owner that has
// taken it many times in a row enters without a locked instruction, and
// anyone else who takes it revokes that first. Mutual exclusion must hold
// through every revocation, and an owner that goes away leaves no bias.
#include <omstream/detail/biased_lock.hpp>
#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace om = omstream;
using om::detail::biased_lock;

namespace {

// A counter whose two halves a writer outside the lock would tear apart.
struct guarded {
    std::uint64_t a = 0, b = 0;
    std::atomic<int> inside{0};  // how many are in the critical section
    std::atomic<bool> overlap{false};

    void bump() {
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0)
            overlap = true;
        const std::uint64_t x = a;
        b = x + 1;
        a = b;
        inside.fetch_sub(1, std::memory_order_relaxed);
    }
};

}  // namespace

// One owner appends in long runs (so the lock is biased to it, again and
// again), a second owner in short ones, and a thread without an owner now
// and then: every entry is counted once, and nobody was ever inside with
// another.
TEST(biased_lock, owners_taking_turns_with_outsiders_never_overlap) {
    biased_lock lock;
    guarded g;
    constexpr std::uint64_t long_runs = 200, long_run = 2000, short_runs = 3000, outsiders = 500;
    std::atomic<bool> go{false};
    auto wait_go = [&] {
        while (!go.load())
            std::this_thread::yield();
    };
    std::thread first([&] {
        biased_lock::owner me;
        wait_go();
        for (std::uint64_t r = 0; r < long_runs; ++r)
            for (std::uint64_t i = 0; i < long_run; ++i) {
                biased_lock::guard hold(lock, &me);
                g.bump();
            }
        lock.forget(me);
    });
    std::thread second([&] {
        biased_lock::owner me;
        wait_go();
        for (std::uint64_t r = 0; r < short_runs; ++r) {
            biased_lock::guard hold(lock, &me);
            g.bump();
            if (r % 100 == 0)
                std::this_thread::yield();
        }
        lock.forget(me);
    });
    std::thread outsider([&] {
        wait_go();
        for (std::uint64_t r = 0; r < outsiders; ++r) {
            {
                std::lock_guard hold(lock);
                g.bump();
            }
            std::this_thread::yield();
        }
    });
    go = true;
    first.join();
    second.join();
    outsider.join();
    EXPECT_FALSE(g.overlap.load());
    EXPECT_EQ(g.a, long_runs * long_run + short_runs + outsiders);
}

// An owner that is forgotten (its handle closed) and freed leaves no bias
// behind: the next outsider would otherwise revoke it by reading the freed
// owner's flag (AddressSanitizer's build sees that read).
TEST(biased_lock, a_forgotten_owner_is_never_read_again) {
    biased_lock lock;
    guarded g;
    auto owner = std::make_unique<biased_lock::owner>();
    for (int i = 0; i < 100; ++i) {  // biased after 64
        biased_lock::guard hold(lock, owner.get());
        g.bump();
    }
    lock.forget(*owner);
    owner.reset();
    {
        std::lock_guard hold(lock);
        g.bump();
    }
    EXPECT_EQ(g.a, 101u);
}

// Two producer handles of one memory stream in two threads, each appending
// single records and batches, with handles opened and closed between runs:
// the bias moves between them, and every record comes once, in order.
TEST(biased_lock, memory_producers_taking_turns_lose_and_repeat_nothing) {
    using stream = om::stream<om::memory<std::uint64_t>>;
    const std::string name = "biased-lock-turns";
    stream::storage_type::remove(name);
    auto consumer = stream::open(name, om::size = 1);
    (void)consumer.poll([](const auto&) {});
    constexpr std::uint64_t per_producer = 60'000;
    auto produce = [&](std::uint64_t p) {
        std::uint64_t i = 0;
        while (i < per_producer) {
            auto s = stream::open(name);
            for (int k = 0; k < 1000 && i < per_producer; ++k) {
                if (k % 10 == 9) {
                    s.append(std::vector<std::uint64_t>{(p << 32) | i});
                } else {
                    s.append((p << 32) | i);
                }
                ++i;
            }
        }
    };
    std::thread a(produce, 0), b(produce, 1);
    std::vector<std::uint64_t> next(2, 0);
    std::uint64_t got = 0;
    bool ordered = true;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got < 2 * per_producer && std::chrono::steady_clock::now() < until)
        (void)consumer.poll([&](const om::window<std::uint64_t>& w) {
            for (const auto v : w) {
                const auto p = v >> 32;
                if ((v & 0xffffffffu) != next[p])
                    ordered = false;
                next[p] = (v & 0xffffffffu) + 1;
                ++got;
            }
        });
    a.join();
    b.join();
    EXPECT_TRUE(ordered) << "a record was lost, repeated or out of order";
    EXPECT_EQ(next, (std::vector<std::uint64_t>{per_producer, per_producer}));
    stream::storage_type::remove(name);
}
