// Polling for a while before going to sleep. A sleeper costs whoever wakes
// it a system call, and itself a wake-up latency (tens of microseconds on a
// VM): when what it waits for comes within microseconds, as it does between
// a producer and a consumer that keep pace, polling is cheaper.
#pragma once

#include <omstream/detail/fast_clock.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/spin_lock.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace omstream::detail {

// How long a producer of a full shared storage polls for room before it
// sleeps, and how many pauses it makes between two polls: each poll reads
// the group words that consumers write on every window, so polling them
// flat out would slow the very consumers it waits for.
inline constexpr std::int64_t room_spin_ns = 20'000;
inline constexpr std::uint32_t room_poll_pauses = 64;

// Polls `ready` until it returns true (then true) or until `budget_ns` have
// passed since `since_ns` (then false; realtime_ns() times), with `pauses`
// cpu_relax() between polls. The clock is read every 16 polls: it costs
// more than most polls.
template <class Ready>
bool spin_until(std::int64_t since_ns, std::int64_t budget_ns, Ready&& ready,
                std::uint32_t pauses = 1) {
    for (std::uint32_t polls = 1;; ++polls) {
        if (ready())
            return true;
        for (std::uint32_t i = 0; i < pauses; ++i)
            cpu_relax();
        if (polls % 16 == 0 && realtime_ns() - since_ns >= budget_ns)
            return false;
    }
}

// One wait of a producer of a full shared storage (shm_ring, mapped_log) for
// `room()`: polls, then sleeps on `space` until a commit wakes it, at most
// 10 ms (consumers, woken first, also look for dead members when they do).
// The caller loops until it has room; `full()` throws once `timeout`
// (negative: none) has passed since the first wait, which `give_up` keeps.
template <class Room, class Full>
void wait_for_room(Room&& room, wait_word& space, wait_word& consumers,
                   std::chrono::nanoseconds timeout, std::chrono::steady_clock::time_point& give_up,
                   Full&& full) {
    const bool limited = timeout >= std::chrono::nanoseconds::zero();
    const auto now = std::chrono::steady_clock::now();
    if (give_up == std::chrono::steady_clock::time_point{})
        give_up = now + (limited ? timeout : std::chrono::hours(24 * 365));
    if (limited && now >= give_up)
        full();
    if (spin_until(realtime_ns(), room_spin_ns, room, room_poll_pauses))
        return;
    const std::uint32_t seen = space.epoch();
    space.enter();
    if (!room()) {
        consumers.wake_always();
        space.sleep(
            seen, std::min<std::chrono::nanoseconds>(give_up - now, std::chrono::milliseconds(10)));
    }
    space.leave();
}

}  // namespace omstream::detail
