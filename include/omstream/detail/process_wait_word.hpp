// A wait_word whose sleepers and wakers all live in one process (memory<T>):
// wakers skip wait_word's fence, and a sleeper pays for it instead, with one
// membarrier(2) call on its way to sleep. That call makes every running
// thread of the process execute a full barrier, so either a waker's look at
// the sleepers comes after it and sees this sleeper, or the waker's record
// was published before it and the sleeper's re-check finds it (the
// asymmetric form of the Dekker handshake). A producer appends far more
// often than a consumer falls asleep, and the fence is a locked instruction
// that waits for the producer's stores to reach a line the consumer reads.
//
// Without membarrier (Linux before 4.14, or a seccomp filter that refuses
// it) both sides keep the fence; so does ThreadSanitizer, which does not
// model fences or membarrier.
#pragma once

#include <omstream/detail/futex.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace omstream::detail {

class process_wait_word {
  public:
    std::uint32_t epoch() const noexcept { return word_.epoch(); }

    // Call between reading epoch() and re-checking for work, and pair with leave().
    void enter() noexcept {
        word_.enter();
        if (asymmetric() && !heavy_barrier())
            blind_.store(true, std::memory_order_relaxed);
    }
    void leave() noexcept { word_.leave(); }

    // A sleeper whose barrier failed (it never does once registered, but a
    // forked child must register again) cannot trust wakers: it naps.
    void sleep(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept {
        if (blind_.load(std::memory_order_relaxed)) {
            constexpr std::chrono::nanoseconds nap = std::chrono::milliseconds(1);
            if (timeout < std::chrono::nanoseconds::zero() || timeout > nap)
                timeout = nap;
        }
        word_.sleep(seen, timeout);
    }

    void wake() noexcept {
        if (asymmetric()) {
            std::atomic_signal_fence(std::memory_order_seq_cst);  // the sleepers' barrier orders us
            word_.wake_ordered();
        } else {
            word_.wake();
        }
    }
    void wake_always() noexcept { word_.wake_always(); }

  private:
    // Whether this process may use MEMBARRIER_CMD_PRIVATE_EXPEDITED: asked
    // (and registered) once, before any waker relies on it.
    static bool asymmetric() noexcept {
#if defined(__SANITIZE_THREAD__)
        return false;
#else
        static const bool registered =
            ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
        return registered;
#endif
    }

    // A full barrier on every running thread of the process. A child of
    // fork() starts unregistered: register again and retry once.
    static bool heavy_barrier() noexcept {
        if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return true;
        return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
               ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
    }

    wait_word word_;
    std::atomic<bool> blind_{false};
};

}  // namespace omstream::detail
