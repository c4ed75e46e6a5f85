// Sleeping and waking on a wait_word that processes of one host share (in a
// shared-memory segment or a mapped file), with the waker's fence moved to
// the sleeper, as process_wait_word does within one process. A producer
// whose process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED skips the
// fence of wait_word::wake(); a consumer on its way to sleep issues that
// barrier, which runs a full barrier on every running thread of every
// registered process (a thread not running has passed one in its context
// switch). So either the producer's look at the sleepers comes after the
// barrier and sees this sleeper, or its record was published before it and
// the sleeper's re-check finds it.
//
// A producer that cannot register keeps the fence. A sleeper whose barrier
// fails (a seccomp filter, a kernel before 4.16) cannot trust registered
// producers: it naps at most 1 ms. ThreadSanitizer does not model fences or
// membarrier: under it every producer keeps wait_word's checked path.
#pragma once

#include <omstream/detail/futex.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace omstream::detail {

// Whether this process's producers may wake without a fence: registered
// for the sleepers' barrier. Asked once per process. The registration
// belongs to the address space, so a child of fork() starts without it: an
// atfork handler makes the child ask again.
inline bool fence_free_waker() noexcept {
#if defined(__SANITIZE_THREAD__)
    return false;
#else
    static std::atomic<int> state{0};  // 0: not asked yet; 1: registered; 2: refused
    int s = state.load(std::memory_order_acquire);
    if (s == 0) [[unlikely]] {
        static std::once_flag atfork;
        std::call_once(atfork, [] {
            ::pthread_atfork(nullptr, nullptr, [] { state.store(0, std::memory_order_relaxed); });
        });
        s = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 1 : 2;
        state.store(s, std::memory_order_release);
    }
    return s == 1;
#endif
}

// A view of a wait_word in memory that processes share.
class host_wait_word {
  public:
    explicit host_wait_word(wait_word& word) noexcept : word_(&word) {}

    std::uint32_t epoch() const noexcept { return word_->epoch(); }

    // Call between reading epoch() and re-checking for work, and pair with leave().
    void enter() noexcept {
        word_->enter();
#if !defined(__SANITIZE_THREAD__)
        blind_ = ::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0;
#endif
    }
    void leave() noexcept {
        word_->leave();
    }
    void sleep(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept {
        if (blind_) {
            constexpr std::chrono::nanoseconds nap = std::chrono::milliseconds(1);
            if (timeout < std::chrono::nanoseconds::zero() || timeout > nap)
                timeout = nap;
        }
        word_->sleep(seen, timeout);
    }

    // For producers, after publishing.
    void wake() noexcept {
        if (fence_free_waker()) {
            std::atomic_signal_fence(std::memory_order_seq_cst);  // the sleepers' barrier orders us
            word_->wake_ordered();
        } else {
            word_->wake();
        }
    }
    void wake_always() noexcept {
        word_->wake_always();
    }

  private:
    wait_word* word_;
    bool blind_ = false;
};

}  // namespace omstream::detail
