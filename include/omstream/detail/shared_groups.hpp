// Consumer groups kept in memory that several processes share (a shared
// segment or a mapped file), without any lock: a process may die anywhere
// and the others carry on.
//
// A group's state (position, emitter state, windows handed out) is an
// immutable snapshot, a `group_block`. Each member owns two blocks; to
// change the state it copies the current block, edits the copy in its spare
// block and swings the group's `current` word to it with one compare-and-
// swap. Readers copy the current block and check that `current` did not move
// meanwhile (a seqlock without writers' locks). A window handed out names
// its member; when that member's process is gone, any other member takes the
// window over (S9: at least once).
#pragma once

#include <omstream/detail/emitter_identity.hpp>
#include <omstream/detail/process.hpp>
#include <omstream/detail/type_name.hpp>
#include <omstream/error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

namespace omstream::detail {

inline constexpr std::size_t shared_max_groups = 64;
inline constexpr std::size_t shared_max_members = 16;
inline constexpr std::size_t shared_max_windows = 8;
inline constexpr std::size_t shared_group_name_max = 63;

struct shared_window {
    std::uint64_t first_seq;
    std::uint64_t count;  // records (slots skipped as padding are not counted)
    std::int64_t created_ns;
    std::uint64_t owner;  // member token, 0: free for any member to take
};

struct group_block {
    std::uint64_t next;     // sequence number of the first record not handed out
    std::uint64_t windows;  // committed
    std::uint64_t late;
    std::uint64_t expired;
    std::uint64_t out;                           // entries used in `handed_out`
    alignas(8) std::array<std::byte, 64> state;  // the emitter's state
    // Last, so that copies stop after the `out` entries in use.
    shared_window handed_out[shared_max_windows];

    std::uint64_t committed() const noexcept {
        std::uint64_t low = next;
        for (std::uint64_t i = 0; i < out; ++i)
            low = std::min(low, handed_out[i].first_seq);
        return low;
    }
};
static_assert(std::is_trivially_copyable_v<group_block> && sizeof(group_block) % 8 == 0);

struct member_slot {
    std::atomic<std::uint64_t> token;  // 0: free; else generation << 32 | pid
    std::atomic<std::uint64_t> start_time;
    group_block blocks[2];
};

struct group_slot {
    std::atomic<std::uint64_t> status;  // 0: free; 2: active; else being set up (joining_status())
    std::atomic<std::uint64_t>
        current;  // version << 8 | block id (member * 2 + b, or 0xff: initial)
    std::atomic<std::uint64_t>
        committed;  // every record below is processed: what producers may reuse
    std::uint32_t name_length;
    char name[shared_group_name_max + 1];
    // emitter_identity::id of the group's state, 0 if unknown (made by a
    // version before it was kept: these bytes were padding, always zero).
    std::uint32_t emitter;
    group_block initial;
    member_slot members[shared_max_members];
};

static_assert(offsetof(group_slot, emitter) + 4 == offsetof(group_slot, initial),
              "the emitter id lives in what was padding: nothing else may move");

struct group_table {
    group_slot groups[shared_max_groups];
};

inline constexpr std::uint64_t group_free = 0;
inline constexpr std::uint64_t group_active = 2;
// A removed group keeps its slot and its name (a tombstone): names that
// probe past it still find their groups further on, and only a group of
// the same name is created in it again. It holds no records back, but
// keeps its `committed`: with no group left, producers wait from there
// (see lowest_committed()).
inline constexpr std::uint64_t group_removed = 1;
// Bit 1 of a "being set up" status (see joining_status()): the group is
// active and its remover is checking that no member lives; should the
// remover die, the group stays as it was.
inline constexpr std::uint64_t group_removing_bit = 2;
inline constexpr std::uint64_t initial_block = 0xff;

inline bool is_removing(std::uint64_t status) noexcept {
    return (status & 3) == 3;
}
// Whether a slot in `status` may hold records back: every slot but a free or
// a removed one (a group being set up holds back from where it will start).
inline bool holds_records(std::uint64_t status) noexcept {
    return status != group_free && status != group_removed;
}

// A group being set up names its creator in `status`: bit 0 set, the pid in
// bits 2-33 (what earlier versions stored, and all they read back) and, in
// bits 34-62, the low 29 bits of the creator's start time, with bit 63 to
// say they are there (2^29 clock ticks: 62 days at 100 Hz). So a joiner
// waits for a live creator only, not for a new process that reuses its pid;
// the word stays the one earlier versions wrote and read.
inline constexpr int creator_start_shift = 34;
inline constexpr std::uint64_t creator_start_mask = (std::uint64_t{1} << 29) - 1;
inline constexpr std::uint64_t creator_start_known = std::uint64_t{1} << 63;

inline std::uint64_t joining_status(std::uint32_t pid, std::uint64_t start_time) noexcept {
    std::uint64_t status = (std::uint64_t{pid} << 2) | 1;
    if (start_time != 0)  // 0: /proc unreadable, the pid alone
        status |= creator_start_known | (start_time & creator_start_mask) << creator_start_shift;
    return status;
}

// Whether the process that is setting a group up or removing it (`status`,
// see above) still runs.
inline bool creator_alive(std::uint64_t status) noexcept {
    if (status == group_removed)
        return false;
    const auto pid = static_cast<std::uint32_t>(status >> 2);
    if ((status & creator_start_known) == 0)
        return process_alive(pid, 0);  // an earlier version's mark
    if (pid == 0)
        return false;
    const process_stat stat = read_process_stat(pid);
    if (!stat.exists || stat.state == 'Z' || stat.state == 'X')
        return false;
    return (stat.start_time & creator_start_mask) ==
           ((status >> creator_start_shift) & creator_start_mask);
}

// --- snapshots ------------------------------------------------------------

inline group_block* block_of(group_slot& g, std::uint64_t current) noexcept {
    const std::uint64_t id = current & 0xff;
    if (id == initial_block)
        return &g.initial;
    return &g.members[id / 2].blocks[id % 2];
}

// The words of a block that hold its state: all but the unused entries of
// `handed_out` (most windows go out one at a time, so a copy moves about a
// third of the block).
inline std::size_t live_words(std::uint64_t out) noexcept {
    const std::size_t used = out < shared_max_windows ? out : shared_max_windows;
    return (offsetof(group_block, handed_out) + used * sizeof(shared_window)) / 8;
}

// Word by word with relaxed atomic accesses: the block may be rewritten while
// we copy it, which the caller detects by `current` having moved (a torn
// `out` only changes how much is copied).
inline void copy_words(const group_block& from, group_block& to) noexcept {
    auto* src = reinterpret_cast<std::uint64_t*>(const_cast<group_block*>(&from));
    auto* dst = reinterpret_cast<std::uint64_t*>(&to);
    constexpr std::size_t head = offsetof(group_block, handed_out) / 8;
#pragma GCC unroll 16  // a fixed count: straight loads, no loop (two copies per window)
    for (std::size_t i = 0; i < head; ++i)
        dst[i] = std::atomic_ref<std::uint64_t>(src[i]).load(std::memory_order_relaxed);
    const std::size_t words = live_words(to.out);
    for (std::size_t i = head; i < words; ++i)
        dst[i] = std::atomic_ref<std::uint64_t>(src[i]).load(std::memory_order_relaxed);
}
inline void store_words(const group_block& from, group_block& to) noexcept {
    const auto* src = reinterpret_cast<const std::uint64_t*>(&from);
    auto* dst = reinterpret_cast<std::uint64_t*>(&to);
    constexpr std::size_t head = offsetof(group_block, handed_out) / 8;
#pragma GCC unroll 16
    for (std::size_t i = 0; i < head; ++i)
        std::atomic_ref<std::uint64_t>(dst[i]).store(src[i], std::memory_order_relaxed);
    const std::size_t words = live_words(from.out);
    for (std::size_t i = head; i < words; ++i)
        std::atomic_ref<std::uint64_t>(dst[i]).store(src[i], std::memory_order_relaxed);
}

// A consistent copy of the group's current state; returns the `current` word it belongs to.
inline std::uint64_t snapshot(group_slot& g, group_block& out) noexcept {
    for (;;) {
        const std::uint64_t current = g.current.load(std::memory_order_acquire);
        copy_words(*block_of(g, current), out);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (g.current.load(std::memory_order_relaxed) == current)
            return current;
    }
}

// --- members --------------------------------------------------------------

struct group_member {
    group_slot* group = nullptr;
    std::uint32_t index = 0;  // member slot
    std::uint64_t token = 0;  // what our windows' `owner` says

    static std::uint64_t owner_token(std::uint32_t index, std::uint64_t slot_token) noexcept {
        return (std::uint64_t{index + 1} << 56) | (slot_token & 0x00ff'ffff'ffff'ffffull);
    }
};

// A member slot is taken in two steps: its token with this bit (the slot's
// start_time still the previous holder's), then, once start_time is ours,
// the token without it. Until then the holder is judged by its pid alone.
inline constexpr std::uint64_t member_pending = std::uint64_t{1} << 63;

// Whether the process holding a member slot (its `token`, just read) lives.
inline bool member_alive(const member_slot& m, std::uint64_t token) noexcept {
    const auto pid = static_cast<std::uint32_t>(token & 0xffff'ffffu);
    if (token & member_pending)
        return process_alive(pid, 0);
    return process_alive(pid, m.start_time.load(std::memory_order_acquire));
}

// Whether the member that owns windows marked `owner` is gone.
inline bool owner_gone(group_slot& g, std::uint64_t owner) noexcept {
    const std::uint64_t index = (owner >> 56) - 1;
    if (index >= shared_max_members)
        return true;
    member_slot& m = g.members[index];
    const std::uint64_t token = m.token.load(std::memory_order_acquire);
    if (group_member::owner_token(static_cast<std::uint32_t>(index), token) != owner)
        return true;  // slot reused
    return !member_alive(m, token);
}

// Changes the group's state to `next` (computed from the snapshot `seen`).
// Returns the group's new `current` word, or 0 when someone changed it
// first. Sets `raised` when it raised the group's `committed` watermark,
// with a sequentially consistent read-modify-write: a waker may then look
// at sleepers without a fence.
inline std::uint64_t swing(const group_member& me, std::uint64_t seen, const group_block& next,
                           bool* raised = nullptr) noexcept {
    group_slot& g = *me.group;
    const std::uint64_t mine = me.index * 2;
    const std::uint64_t spare = (seen & 0xff) == mine ? mine + 1 : mine;
    // Readers that copy our spare block while we write it see `current` move
    // (it moved away from the spare before we got here): they retry.
    std::atomic_thread_fence(std::memory_order_release);
    store_words(next, g.members[me.index].blocks[spare % 2]);
    const std::uint64_t version = (seen >> 8) + 1;
    const std::uint64_t current = version << 8 | spare;
    std::uint64_t expected = seen;
    if (!g.current.compare_exchange_strong(expected, current, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
        return 0;
    }
    // Producers reuse space below `committed`: only ever raise it.
    const std::uint64_t low = next.committed();
    std::uint64_t old = g.committed.load(std::memory_order_relaxed);
    while (old < low) {
        if (g.committed.compare_exchange_weak(old, low, std::memory_order_seq_cst,
                                              std::memory_order_relaxed)) {
            if (raised != nullptr)
                *raised = true;
            break;
        }
    }
    return current;
}
inline bool propose(const group_member& me, std::uint64_t seen, const group_block& next,
                    bool* raised = nullptr) noexcept {
    return swing(me, seen, next, raised) != 0;
}

// A member's working copy of its group's block, and the `current` word it
// was proposed under. Versions only grow, so while the group's `current`
// still says that word, the copy is the group's state: a member that both
// claims and commits every window (one consumer keeping up) then never
// copies the shared block at all.
struct block_cache {
    const group_slot* group = nullptr;
    std::uint64_t current = 0;  // 0: `block` is not the state of any `current` (no word is 0)
    group_block block;

    // The group's state into `block`; returns the `current` word it belongs
    // to. Until propose() or keep(), `block` is the caller's to edit.
    std::uint64_t take(group_slot& g) noexcept {
        const std::uint64_t now = g.current.load(std::memory_order_acquire);
        const bool hit = group == &g && current == now;
        group = &g;
        current = 0;
        return hit ? now : snapshot(g, block);
    }
    // Proposes the edited `block` as the state after `seen` (see swing()).
    bool propose(const group_member& me, std::uint64_t seen, bool* raised = nullptr) noexcept {
        current = swing(me, seen, block, raised);
        return current != 0;
    }
    // `block` is still what take() returned for `seen`: unedited.
    void keep(std::uint64_t seen) noexcept { current = seen; }
};

inline void check_group_name(std::string_view name) {
    bool ok = !name.empty() && name.size() <= shared_group_name_max && name.front() != '.';
    for (char c : name)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-');
    if (!ok)
        throw error(errc::invalid_name,
                    "group name '" + std::string(name.substr(0, 80)) +
                        "' is not 1-63 characters of A-Z a-z 0-9 . _ - not starting "
                        "with '.'; choose another group name");
}

inline void leave_group(const group_member& me) noexcept {
    if (me.group == nullptr)
        return;
    std::uint64_t token = me.group->members[me.index].token.load(std::memory_order_relaxed);
    if (group_member::owner_token(me.index, token) == me.token)
        me.group->members[me.index].token.compare_exchange_strong(token, 0,
                                                                  std::memory_order_acq_rel);
}

inline std::string_view slot_name(const group_slot& g) noexcept {
    return {g.name, std::min<std::size_t>(g.name_length, shared_group_name_max)};
}

inline std::string stream_words(std::string_view stream) {
    return stream.empty() ? std::string("stream") : "stream '" + std::string(stream) + "'";
}

// A slot left "being set up" (`status`) by a process that died: a group
// being removed stays; a group being created becomes a removed group of the
// name it had (only that name may create it again: the creator may have
// been re-creating a removed group, which groups further on probe past), or
// free when it died before naming it. Compare-and-swaps: whoever comes
// first settles it.
inline void settle_dead_setup(group_slot& g, std::uint64_t status) noexcept {
    std::uint64_t seen = status;
    if (is_removing(status)) {
        g.status.compare_exchange_strong(seen, group_active, std::memory_order_acq_rel);
        return;
    }
    const bool named =
        std::atomic_ref<std::uint32_t>(g.name_length).load(std::memory_order_acquire) != 0;
    g.status.compare_exchange_strong(seen, named ? group_removed : group_free,
                                     std::memory_order_acq_rel);
}

// Finds the group `name`, or creates it (probing from its hash, so that two
// processes creating it at once meet in the same slot). `start` gives the
// first record of a new group; `stream`, the stream's name for messages.
template <class Start>
group_slot& find_or_create_group(group_table& table, std::string_view name,
                                 std::span<const std::byte> initial_state, Start& start,
                                 const process_id& me, std::string_view stream,
                                 const emitter_identity& emitter) {
    const std::size_t home = fnv1a(name) % shared_max_groups;
    for (std::size_t probe = 0; probe < shared_max_groups;) {
        group_slot& g = table.groups[(home + probe) % shared_max_groups];
        std::uint64_t status = g.status.load(std::memory_order_acquire);
        if (status == group_active || status == group_removed) {
            if (slot_name(g) != name) {
                ++probe;
                continue;
            }
            if (status == group_active) {
                if (!same_emitter(std::atomic_ref(g.emitter).load(std::memory_order_relaxed),
                                  emitter.id))
                    refuse_other_emitter(name, stream, emitter);
                return g;
            }
            // Our removed group: created again in its own slot, below.
        } else if (status != group_free) {  // being set up or removed
            if (creator_alive(status)) {
                std::this_thread::yield();
                continue;
            }
            settle_dead_setup(g, status);
            continue;  // look at it again
        }
        const std::uint64_t mine = joining_status(me.pid, me.start_time);
        if (!g.status.compare_exchange_strong(status, mine, std::memory_order_acq_rel))
            continue;
        if (status == group_free) {
            // The length last: a creator that dies before it leaves no name
            // (see settle_dead_setup()). A removed group's slot has ours.
            std::memcpy(g.name, name.data(), name.size());
            g.name[name.size()] = '\0';
            std::atomic_ref<std::uint32_t>(g.name_length)
                .store(static_cast<std::uint32_t>(name.size()), std::memory_order_release);
        }
        group_block initial{};
        try {
            initial.next = start();
        } catch (...) {
            // Give the slot back, or every later join of this group (and of
            // any group probing past it) would wait for us while we live.
            // Nothing else of the slot was published: joiners see it as it
            // was (release: after our writes to the name) or, later, made
            // whole. A compare-and-swap: should someone have taken the slot
            // over meanwhile (judging us dead), it is theirs.
            const std::uint64_t before = status;  // free, or our removed group
            if (before == group_free)
                std::atomic_ref<std::uint32_t>(g.name_length).store(0, std::memory_order_relaxed);
            std::uint64_t ours = mine;
            g.status.compare_exchange_strong(ours, before, std::memory_order_release,
                                             std::memory_order_relaxed);
            throw;
        }
        if (!initial_state.empty())  // an empty span may hold no pointer: memcpy's UB
            std::memcpy(initial.state.data(), initial_state.data(),
                        std::min(initial_state.size(), initial.state.size()));
        store_words(initial, g.initial);
        std::atomic_ref(g.emitter).store(emitter.id, std::memory_order_relaxed);
        g.committed.store(initial.next, std::memory_order_relaxed);
        // Versions only grow, also over a group created again in its slot:
        // no cached block of the old group can pass for the new one's.
        const std::uint64_t version = (g.current.load(std::memory_order_relaxed) >> 8) + 1;
        g.current.store(version << 8 | initial_block, std::memory_order_relaxed);
        g.status.store(group_active, std::memory_order_release);
        return g;
    }
    throw error(errc::full, stream_words(stream) + " has " + std::to_string(shared_max_groups) +
                                " consumer groups already (removed ones included: only their "
                                "own names can use their slots again); reuse a group name");
}

// Finds or creates the group `name` (see find_or_create_group()) and takes
// a member slot in it.
template <class Start>
group_member join_group(group_table& table, std::string_view name,
                        std::span<const std::byte> initial_state, Start&& start,
                        std::string_view stream = {}, const emitter_identity& emitter = {}) {
    check_group_name(name);
    const process_id me = process_id::self();
    const std::uint64_t slot_token_base = std::uint64_t{me.pid};
    for (;;) {
        group_slot& found =
            find_or_create_group(table, name, initial_state, start, me, stream, emitter);
        group_member member;
        for (std::uint32_t i = 0; i < shared_max_members && member.group == nullptr; ++i) {
            member_slot& m = found.members[i];
            std::uint64_t token = m.token.load(std::memory_order_acquire);
            if (token != 0 && member_alive(m, token))
                continue;
            const std::uint64_t generation = ((token >> 32) + 1) & 0xff'ffff;
            const std::uint64_t mine = generation << 32 | slot_token_base;
            if (!m.token.compare_exchange_strong(token, mine | member_pending,
                                                 std::memory_order_seq_cst))
                continue;
            m.start_time.store(me.start_time, std::memory_order_relaxed);
            m.token.store(mine, std::memory_order_release);  // start_time is ours now
            member = {&found, i, group_member::owner_token(i, mine)};
        }
        if (member.group == nullptr)
            throw error(errc::full, "group '" + std::string(name) + "' of " + stream_words(stream) +
                                        " has " + std::to_string(shared_max_members) +
                                        " live members already; stop one or use another group");
        // remove_group() marks the group, then looks for members; we took
        // our slot, then look at the mark (both sequentially consistent):
        // one of us sees the other. If it is being removed, look again.
        if (found.status.load(std::memory_order_seq_cst) == group_active &&
            group_member::owner_token(member.index, found.members[member.index].token.load(
                                                        std::memory_order_acquire)) == member.token)
            return member;
        leave_group(member);
    }
}

// Removes the group `name`: its slot holds nothing back any more, and a
// later join of that name starts a new group. Refused (errc::in_use) while
// a member lives. Returns false when there is no such group.
inline bool remove_group(group_table& table, std::string_view name, std::string_view stream) {
    check_group_name(name);
    const process_id me = process_id::self();
    const std::size_t home = fnv1a(name) % shared_max_groups;
    for (std::size_t probe = 0; probe < shared_max_groups;) {
        group_slot& g = table.groups[(home + probe) % shared_max_groups];
        std::uint64_t status = g.status.load(std::memory_order_acquire);
        if (status == group_free)
            return false;  // the end of the names that share our probe
        if (status != group_active && status != group_removed) {
            if (creator_alive(status)) {
                std::this_thread::yield();
                continue;
            }
            settle_dead_setup(g, status);
            continue;  // look at it again
        }
        if (slot_name(g) != name) {
            ++probe;
            continue;
        }
        if (status == group_removed)
            return false;
        const std::uint64_t removing = joining_status(me.pid, me.start_time) | group_removing_bit;
        if (!g.status.compare_exchange_strong(status, removing, std::memory_order_seq_cst))
            continue;
        // Nothing here may throw before the group is active or removed
        // again: joiners wait while we are alive.
        std::array<std::uint32_t, shared_max_members> live{};
        std::size_t live_count = 0;
        for (auto& m : g.members) {
            const std::uint64_t token = m.token.load(std::memory_order_seq_cst);
            if (token != 0 && member_alive(m, token))
                live[live_count++] = static_cast<std::uint32_t>(token & 0xffff'ffffu);
        }
        if (live_count != 0) {
            g.status.store(group_active, std::memory_order_release);
            std::string pids;
            for (std::size_t i = 0; i < live_count; ++i)
                pids += (i == 0 ? "" : ", ") + std::to_string(live[i]);
            throw error(errc::in_use,
                        "group '" + std::string(name) + "' of " + stream_words(stream) + " has " +
                            std::to_string(live_count) + " live member" +
                            (live_count == 1 ? "" : "s") + " (process " + pids +
                            "); close their stream handles before removing the group");
        }
        // Free the slots of dead members; a slot taken since we looked is a
        // joiner's who will see the mark and leave it again.
        for (auto& m : g.members) {
            std::uint64_t token = m.token.load(std::memory_order_acquire);
            if (token != 0 && !member_alive(m, token))
                m.token.compare_exchange_strong(token, 0, std::memory_order_relaxed);
        }
        g.status.store(group_removed, std::memory_order_seq_cst);
        return true;
    }
    return false;
}

// The lowest position any group still needs: producers reuse nothing below
// it. With no group yet, records wait for the first one (0: nothing is
// reused). With removed groups only, they wait from where the groups had
// got to (a tombstone keeps its `committed`): 0 would stop every producer
// for good once the tail had passed the capacity. Producers ask it only
// when they seem to be out of room.
inline std::uint64_t lowest_committed(group_table& table) noexcept {
    std::uint64_t low = ~std::uint64_t{0};
    std::uint64_t removed = 0;
    bool any = false;
    for (auto& g : table.groups) {
        std::uint64_t status = g.status.load(std::memory_order_acquire);
        // A slot whose creator (or remover) died would hold records back at
        // whatever it held until a join probing it settled it: settle it here
        // (rare: only slots being set up are looked at).
        if (status != group_free && status != group_active && status != group_removed &&
            !creator_alive(status)) {
            settle_dead_setup(g, status);
            status = g.status.load(std::memory_order_acquire);
        }
        if (status == group_removed)
            removed = std::max(removed, g.committed.load(std::memory_order_acquire));
        if (!holds_records(status))
            continue;
        any = true;
        low = std::min(low, g.committed.load(std::memory_order_acquire));
    }
    return any ? low : removed;
}

// How often a member looks whether the members holding windows still live.
inline constexpr std::chrono::milliseconds dead_member_check_every{20};

// A window that another member left: abandoned (its callback threw), the
// oldest first, or, at most every dead_member_check_every, held by a member
// whose process is gone (S9). Its index in `b.handed_out`, or `b.out` when
// there is none (an index, not an optional: GCC 12 builds the optional's
// return through memory, a store-forwarding stall on every claim).
inline std::uint64_t window_to_take_over(const group_member& me, const group_block& b,
                                         std::chrono::steady_clock::time_point& last_dead_check) {
    std::uint64_t best = b.out;
    for (std::uint64_t i = 0; i < b.out; ++i)
        if (b.handed_out[i].owner == 0 &&
            (best == b.out || b.handed_out[i].first_seq < b.handed_out[best].first_seq))
            best = i;
    if (best != b.out || b.out == 0)
        return best;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_dead_check < dead_member_check_every)
        return b.out;
    last_dead_check = now;
    for (std::uint64_t i = 0; i < b.out; ++i)
        if (b.handed_out[i].owner != me.token && owner_gone(*me.group, b.handed_out[i].owner))
            return i;
    return b.out;
}

// Where in `b.handed_out` our window starting at `first_seq` is; `b.out`
// when it is not ours any more (taken over).
inline std::uint64_t own_window(const group_member& me, const group_block& b,
                                std::uint64_t first_seq) noexcept {
    std::uint64_t i = 0;
    while (i < b.out &&
           !(b.handed_out[i].first_seq == first_seq && b.handed_out[i].owner == me.token))
        ++i;
    return i;
}

// Commits (or abandons, for redelivery) the window starting at `first_seq`,
// working in the member's cache. Returns whether that raised the group's
// `committed` watermark (producers waiting for room need a wake-up only
// then; see swing()).
inline bool finish_window(const group_member& me, block_cache& cache, std::uint64_t first_seq,
                          bool committed) {
    group_block& b = cache.block;
    for (;;) {
        const std::uint64_t seen = cache.take(*me.group);
        const std::uint64_t i = own_window(me, b, first_seq);
        if (i == b.out) {
            cache.keep(seen);
            return false;  // taken over meanwhile: it will come again
        }
        if (committed) {
            b.handed_out[i] = b.handed_out[b.out - 1];
            --b.out;
            ++b.windows;
        } else {
            b.handed_out[i].owner = 0;
        }
        bool raised = false;
        if (cache.propose(me, seen, &raised))
            return raised;
    }
}

}  // namespace omstream::detail
