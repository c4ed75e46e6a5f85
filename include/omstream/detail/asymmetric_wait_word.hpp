// Sleeping and waking on a wait_word with the waker's fence moved to the
// sleeper. Producers append far more often than consumers fall asleep, and
// wait_word::wake()'s fence is a locked instruction that waits for the
// producer's stores to reach a line the consumer reads. So a producer whose
// process is registered for membarrier(2) skips it, and a consumer on its
// way to sleep calls membarrier instead, which runs a full barrier on every
// running thread the barrier covers (a thread not running has passed one in
// its context switch): either the producer's look at the sleepers comes
// after it and sees this sleeper, or the producer's record was published
// before it and the sleeper's re-check finds it (the asymmetric form of the
// Dekker handshake).
//
// The barrier's reach is a policy: the threads of this process (memory<T>)
// or every registered process on the host (shm_ring, mapped_log). A waker
// that cannot register keeps the fence. A sleeper whose barrier fails (a
// seccomp filter, an old kernel) cannot trust wakers that skip it: it naps
// at most 1 ms at a time. ThreadSanitizer models neither fences nor
// membarrier: under it every waker keeps wait_word's checked path.
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

// The threads of this process: MEMBARRIER_CMD_PRIVATE_EXPEDITED.
struct process_barrier {
    // Whether this process's wakers may skip the fence; registered once.
    static bool fence_free_waker() noexcept {
#if defined(__SANITIZE_THREAD__)
        return false;
#else
        static const bool registered =
            ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
        return registered;
#endif
    }
    // Whether the sleeper's barrier ran (or none was needed). A child of
    // fork() starts unregistered: register again and retry once.
    static bool sleeper_barrier() noexcept {
        if (!fence_free_waker())
            return true;  // our wakers keep their fence
        if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return true;
        return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
               ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
    }
};

// Every registered process on the host: MEMBARRIER_CMD_GLOBAL_EXPEDITED.
struct host_barrier {
    // Whether this process's wakers may skip the fence. Asked once per
    // process; the registration belongs to the address space, so a child of
    // fork() starts without it and an atfork handler makes the child ask again.
    static bool fence_free_waker() noexcept {
#if defined(__SANITIZE_THREAD__)
        return false;
#else
        static std::atomic<int> state{0};  // 0: not asked yet; 1: registered; 2: refused
        int s = state.load(std::memory_order_acquire);
        if (s == 0) [[unlikely]] {
            static std::once_flag atfork;
            std::call_once(atfork, [] {
                ::pthread_atfork(nullptr, nullptr,
                                 [] { state.store(0, std::memory_order_relaxed); });
            });
            s = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 1
                                                                                               : 2;
            state.store(s, std::memory_order_release);
        }
        return s == 1;
#endif
    }
    // Producers of other processes may skip their fence whatever ours do.
    static bool sleeper_barrier() noexcept {
#if defined(__SANITIZE_THREAD__)
        return true;  // no waker skips its fence
#else
        return ::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0;
#endif
    }
};

// A view of a wait_word that sleepers and wakers take for each use.
template <class Barrier>
class asymmetric_wait_word {
  public:
    explicit asymmetric_wait_word(wait_word& word) noexcept : word_(&word) {}

    std::uint32_t epoch() const noexcept { return word_->epoch(); }

    // Call between reading epoch() and re-checking for work, and pair with leave().
    void enter() noexcept {
        word_->enter();
        blind_ = !Barrier::sleeper_barrier();
    }
    void leave() noexcept { word_->leave(); }
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
        if (Barrier::fence_free_waker()) {
            std::atomic_signal_fence(std::memory_order_seq_cst);  // the sleepers' barrier orders us
            word_->wake_ordered();
        } else {
            word_->wake();
        }
    }
    void wake_always() noexcept { word_->wake_always(); }

  private:
    wait_word* word_;
    bool blind_ = false;
};

using process_wait_word = asymmetric_wait_word<process_barrier>;  // memory<T>
using host_wait_word = asymmetric_wait_word<host_barrier>;        // shm_ring, mapped_log

}  // namespace omstream::detail
