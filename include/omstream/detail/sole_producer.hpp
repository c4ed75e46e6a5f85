// The sole-producer claim: while one producer handle appends to a stream in
// shared memory, it claims with a plain store of the tail instead of a
// compare-and-swap. A locked instruction costs about 11 ns per append on its
// own and, across cores, waits for the previous record's stores to reach the
// consumer that is reading them; without it a cross-process append costs
// about half as much. A second producer revokes the right before its first
// claim, and every producer claims with a compare-and-swap from then on.
//
// The right is a word beside the tail: nobody, a handle (its producer slot
// and pid), or shared. Every producer states its claim (its intent, [from,
// to) in its producer slot) before it reads the word, and claims as the word
// says: plainly when the word names it, with a compare-and-swap when it says
// shared, else it settles the word first (settle()). Whoever makes a handle
// the holder, or revokes a holder, runs a barrier on every registered process
// (membarrier(2), as the waking of sleepers does; see asymmetric_wait_word)
// before it looks at the others' intents: either a producer's read of the
// word comes after the barrier and sees the change, or its intent came before
// and is seen, and then we wait until that claim is done. So a plain store of
// the tail never meets another producer's claim.
//
// Intents already tell readers which claims are in flight (a dead writer's
// claim is given up); the holder writes them too, so nothing changes there.
// A producer killed holding the right leaves it to the next one. A process
// that cannot register for the barrier never holds the right (it claims
// shared); one that cannot run the barrier when it revokes waits 20 ms
// instead, far longer than stores take to leave a CPU's store buffer.
// ThreadSanitizer models no membarrier: under it every claim is shared.
#pragma once

#include <omstream/detail/asymmetric_wait_word.hpp>
#include <omstream/detail/process.hpp>
#include <omstream/detail/spin_wait.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>

namespace omstream::detail {

inline constexpr std::uint64_t sole_nobody = 0;
inline constexpr std::uint64_t sole_shared = ~std::uint64_t{0};
// A holder's id with this bit: its right is being revoked.
inline constexpr std::uint64_t sole_revoking = 0x80;
inline constexpr std::uint64_t sole_slot_bits = 0x7f;  // producer slot + 1 (at most 64 slots)

// The word's value for the handle in producer slot `slot` of process `pid`.
inline std::uint64_t sole_id(std::size_t slot, std::uint32_t pid) noexcept {
    return (static_cast<std::uint64_t>(pid) << 8) | (static_cast<std::uint64_t>(slot) + 1);
}

// A view of the word and the producer slots it governs. Slot is a struct
// with atomic `token` (pid, 0 when free) and `start_time`, and the two
// atomic members From and To bound its claim in flight (empty when they are
// equal; From never decreases while the slot's handle lives).
template <class Slot, auto From = &Slot::from, auto To = &Slot::to>
class sole_producer {
  public:
    sole_producer(std::atomic<std::uint64_t>& word, std::span<Slot> slots) noexcept
        : word_(&word), slots_(slots) {}

    // Whether handle `id` claims plainly, with a compare-and-swap (every
    // producer does), or must settle() the word first. Read after the claim's intent is stored: the
    // barrier of whoever changes the word orders the two in the CPU, but
    // only in a process registered for it (producers register when they
    // take their producer slot); any other keeps the fence.
    enum class claim { plain, shared, settle };
    claim how(std::uint64_t id) const noexcept {
        const std::uint64_t w = word_after_intent();
        return w == id ? claim::plain : w == sole_shared ? claim::shared : claim::settle;
    }

    // The word names neither `id` nor shared: make it one of the two, after
    // the claim's intent was withdrawn. True when `id` holds the right.
    // `may_hold`: whether the caller can claim plainly at all.
    bool settle(std::size_t slot, std::uint64_t id, bool may_hold = true) const {
        for (;;) {
            std::uint64_t w = word_->load(std::memory_order_acquire);
            if (w == id)
                return true;
            if (w == sole_shared)
                return false;
            if (w == sole_nobody) {
                if (!may_hold || !host_barrier::fence_free_waker()) {  // shared, then
                    word_->compare_exchange_strong(w, sole_shared, std::memory_order_acq_rel);
                    continue;
                }
                if (!word_->compare_exchange_strong(w, id, std::memory_order_acq_rel))
                    continue;
                if (!barrier()) {
                    w = id;
                    word_->compare_exchange_strong(w, sole_shared, std::memory_order_acq_rel);
                    continue;
                }
                for (std::size_t i = 0; i < slots_.size(); ++i)
                    if (i != slot)
                        wait_until_done(slots_[i]);
                return true;
            }
            // Another handle holds it, or is being revoked. A dead holder's
            // right goes back to nobody: it stores nothing any more.
            const std::size_t holder = static_cast<std::size_t>(w & sole_slot_bits) - 1;
            const bool revoking = (w & sole_revoking) != 0;
            if (!revoking && (holder >= slots_.size() || !holder_alive(slots_[holder], w))) {
                word_->compare_exchange_strong(w, sole_nobody, std::memory_order_acq_rel);
                continue;
            }
            // Nobody claims with a compare-and-swap while the word says
            // revoking: the holder may still store the tail plainly. Whoever
            // sees it runs the barrier and waits for the holder's claim (the
            // one who revoked may have died doing so), then says shared.
            if (!revoking &&
                !word_->compare_exchange_strong(w, w | sole_revoking, std::memory_order_acq_rel))
                continue;
            if (!barrier())
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (holder < slots_.size())
                wait_until_done(slots_[holder]);
            w |= sole_revoking;
            word_->compare_exchange_strong(w, sole_shared, std::memory_order_acq_rel);
        }
    }

    // A handle closes: a right it holds goes back to nobody, and so does a
    // shared word once no other producer handle is open (slots of killed
    // processes do not count), so that the next producer alone claims
    // plainly again. (A producer opening meanwhile reads the word at its
    // claim, and whoever takes the right waits for it.)
    void release(std::size_t slot, std::uint64_t id) const noexcept {
        std::uint64_t w = id;
        if (word_->compare_exchange_strong(w, sole_nobody, std::memory_order_acq_rel))
            return;
        if (w != sole_shared)
            return;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            const std::uint64_t token = slots_[i].token.load(std::memory_order_acquire);
            if (i != slot && token != 0 &&
                process_alive(static_cast<std::uint32_t>(token),
                              slots_[i].start_time.load(std::memory_order_relaxed)))
                return;
        }
        word_->compare_exchange_strong(w, sole_nobody, std::memory_order_acq_rel);
    }

  private:
    std::uint64_t word_after_intent() const noexcept {
        if (host_barrier::fence_free_waker())
            std::atomic_signal_fence(std::memory_order_seq_cst);
        else
            std::atomic_thread_fence(std::memory_order_seq_cst);
        return word_->load(std::memory_order_relaxed);
    }

    static bool barrier() noexcept {
#if defined(__SANITIZE_THREAD__)
        return false;
#else
        return host_barrier::sleeper_barrier();
#endif
    }

    static bool holder_alive(const Slot& s, std::uint64_t id) noexcept {
        const std::uint64_t token = s.token.load(std::memory_order_acquire);
        return token == ((id & ~sole_revoking) >> 8) &&
               process_alive(static_cast<std::uint32_t>(token),
                             s.start_time.load(std::memory_order_relaxed));
    }

    // Waits until the claim slot `s` had in flight now is done: published,
    // withdrawn, or its writer gone. Bounded by one append of a live writer
    // (a producer withdraws its intent before it waits for room).
    static void wait_until_done(const Slot& s) {
        const std::uint64_t token = s.token.load(std::memory_order_acquire);
        const std::uint64_t to = (s.*To).load(std::memory_order_acquire);
        if (token == 0 || (s.*From).load(std::memory_order_acquire) >= to)
            return;
        const std::uint64_t start_time = s.start_time.load(std::memory_order_relaxed);
        auto done = [&] {
            const std::uint64_t from = (s.*From).load(std::memory_order_acquire);
            return from >= to || from == (s.*To).load(std::memory_order_acquire) ||
                   s.token.load(std::memory_order_acquire) != token;
        };
        for (int i = 0; i < 4096; ++i) {
            if (done())
                return;
            cpu_relax();
        }
        while (!done()) {
            if (!process_alive(static_cast<std::uint32_t>(token), start_time))
                return;
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

    std::atomic<std::uint64_t>* word_;
    std::span<Slot> slots_;
};

}  // namespace omstream::detail
