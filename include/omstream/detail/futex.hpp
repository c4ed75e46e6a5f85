// Sleeping and waking on a 32-bit word with Linux futexes. Unlike
// std::atomic::wait this takes a timeout, and it works on words in shared
// memory between processes (no FUTEX_PRIVATE_FLAG).
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace omstream::detail {

// Sleeps while `word` holds `expected`, at most `timeout` (negative: no limit).
// Returns early on a wake-up, a signal, or when the word already differs.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    timespec ts{};
    timespec* limit = nullptr;
    if (timeout >= std::chrono::nanoseconds::zero()) {
        ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
        limit = &ts;
    }
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, limit,
              nullptr, 0);
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
              nullptr, 0);
}

// A word that sleepers wait on and wakers bump; wakers make the system call
// only when someone is asleep (S11: a producer pays nothing when nobody waits).
class wait_word {
  public:
    std::uint32_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

    // Call between reading epoch() and re-checking for work, and pair with leave().
    // The fence orders the re-check's plain loads after our registration
    // against a waker's seq_cst read-modify-write (see wake_ordered()).
    void enter() noexcept {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        armed_.store(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    void leave() noexcept { sleepers_.fetch_sub(1, std::memory_order_relaxed); }
    void sleep(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept {
        futex_wait(epoch_, seen, timeout);
    }

    // One system call per round of sleep, not one per waker: the first waker
    // disarms the word; sleepers arm it again before they next sleep.
    void wake() noexcept {
        // Orders our publishing before the look at sleepers_, against a
        // sleeper's enter(). A fence keeps the line of sleepers_ shared (a
        // read-modify-write would pull it over from the consumer's core on
        // every append); ThreadSanitizer does not model fences, so it gets
        // the read-modify-write.
#if defined(__SANITIZE_THREAD__)
        wake_if_asleep(sleepers_.fetch_add(0, std::memory_order_seq_cst));
#else
        std::atomic_thread_fence(std::memory_order_seq_cst);
        wake_if_asleep(sleepers_.load(std::memory_order_relaxed));
#endif
    }
    // wake() for a caller whose publishing is already ordered before the look
    // at sleepers_ by other means: a sequentially consistent read-modify-
    // write of what sleepers check (a sleeper's enter() is followed by a
    // seq_cst fence before its check), or asymmetric_wait_word's sleepers'
    // barrier. A plain load on x86.
    void wake_ordered() noexcept {
        wake_if_asleep(sleepers_.load(std::memory_order_seq_cst));
    }
    void wake_always() noexcept {
        epoch_.fetch_add(1, std::memory_order_seq_cst);
        futex_wake_all(epoch_);
    }

  private:
    void wake_if_asleep(std::uint32_t sleepers) noexcept {
        if (sleepers != 0 && armed_.load(std::memory_order_relaxed) != 0 &&
            armed_.exchange(0, std::memory_order_seq_cst) != 0) {
            wake_always();
        }
    }

    alignas(64) std::atomic<std::uint32_t> epoch_{0};
    alignas(64) std::atomic<std::uint32_t> sleepers_{0};
    std::atomic<std::uint32_t> armed_{0};
};

}  // namespace omstream::detail
