// A lock that one producer handle at a time may take without a locked
// instruction. The claim of memory<T> is a critical section of a few stores,
// and its spin lock's exchange cost about as much as the rest of an append
// (an append took twice as long with it, 26 against 52 M records/s between
// two threads on a Xeon). A stream usually has one producer thread: after a
// run of acquisitions by one owner, the lock is biased to it, and it enters
// by raising a flag of its own and checking the bias, with plain loads and
// stores. Anyone else who takes the lock revokes the bias: it clears it, runs
// a barrier on every thread of the process (membarrier(2), as the waking of
// sleepers does; see asymmetric_wait_word), and waits for the owner's flag
// to fall. Either the owner's check of the bias comes after the barrier and
// sees it gone, or its flag was raised before and is seen. Each revocation
// doubles the run that biases the lock again, so producers that take turns
// soon stop paying for barriers.
//
// One thread per owner at a time (a handle serves one thread at a time). A
// process that cannot register for the barrier never biases the lock, and
// ThreadSanitizer, which models no membarrier, never sees it biased.
#pragma once

#include <omstream/detail/asymmetric_wait_word.hpp>
#include <omstream/detail/spin_lock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace omstream::detail {

class biased_lock {
  public:
    // What an owner keeps: its flag, raised while it is inside by the bias.
    // On a line of its own: the owner writes it twice per acquisition.
    struct alignas(64) owner {
        std::atomic<std::uint32_t> inside{0};
    };

    // Takes the lock for `me` (nullptr: someone who never holds the bias).
    void lock(owner* me) noexcept {
        if (me != nullptr) {
            me->inside.store(1, std::memory_order_relaxed);
            std::atomic_signal_fence(std::memory_order_seq_cst);  // the barrier orders the CPU
            if (bias_.load(std::memory_order_relaxed) == me) {
                std::atomic_thread_fence(std::memory_order_acquire);
                return;
            }
            me->inside.store(0, std::memory_order_release);
        }
        real_.lock();
        if (owner* biased = bias_.load(std::memory_order_relaxed);
            biased != nullptr && biased != me)
            revoke(*biased);
    }

    void unlock(owner* me) noexcept {
        if (me != nullptr && me->inside.load(std::memory_order_relaxed) != 0) {
            me->inside.store(0, std::memory_order_release);
            return;
        }
        if (me != nullptr && bias_.load(std::memory_order_relaxed) == nullptr) {
            streak_ = streak_owner_ == me ? streak_ + 1 : 1;
            streak_owner_ = me;
            if (streak_ >= (std::uint64_t{64} << std::min(revocations_, 20u)) && may_bias()) {
                bias_.store(me, std::memory_order_relaxed);  // published by the unlock
                streak_ = 0;
            }
        }
        real_.unlock();
    }

    // `me` is going away: the lock must not stay biased to it.
    void forget(owner& me) noexcept {
        real_.lock();
        if (bias_.load(std::memory_order_relaxed) == &me)
            bias_.store(nullptr, std::memory_order_relaxed);
        if (streak_owner_ == &me)
            streak_owner_ = nullptr;
        real_.unlock();
    }

    // For std::lock_guard, by those who never hold the bias.
    void lock() noexcept { lock(nullptr); }
    void unlock() noexcept { unlock(nullptr); }

    // std::lock_guard for an owner.
    class guard {
      public:
        guard(biased_lock& l, owner* me) noexcept : l_(l), me_(me) { l_.lock(me_); }
        ~guard() { l_.unlock(me_); }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;

      private:
        biased_lock& l_;
        owner* me_;
    };

  private:
    static bool may_bias() noexcept {
#if defined(__SANITIZE_THREAD__)
        return false;
#else
        return process_barrier::fence_free_waker();
#endif
    }

    // Under real_: takes the bias back from `biased` and waits until it is out.
    void revoke(owner& biased) noexcept {
        bias_.store(nullptr, std::memory_order_relaxed);
        ++revocations_;
        if (!process_barrier::sleeper_barrier())
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // see sole_producer.hpp
        for (unsigned spins = 0; biased.inside.load(std::memory_order_acquire) != 0; ++spins) {
            if (spins > 64)
                std::this_thread::yield();
            else
                cpu_relax();
        }
    }

    std::atomic<owner*> bias_{nullptr};
    spin_lock real_;
    // Under real_.
    owner* streak_owner_ = nullptr;
    std::uint64_t streak_ = 0;
    unsigned revocations_ = 0;
};

}  // namespace omstream::detail
