// shm_ring<T>: a bounded stream in POSIX shared memory (Boost.Interprocess
// shared_memory_object + mapped_region), for low-latency IPC between
// processes on one host. Every record sits in a slot; sequence number s
// lives in slot s % capacity. No lock is shared between processes on any
// path: producers claim slots with a compare-and-swap on the tail and
// publish each frame by its commit word; consumer groups live in the
// segment (detail/shared_groups.hpp); a slot whose writer died is skipped
// as padding once a reader has seen that no live producer claims it.
#pragma once

#include <omstream/clock.hpp>
#include <omstream/concepts.hpp>
#include <omstream/detail/allocate_file.hpp>
#include <omstream/detail/asymmetric_wait_word.hpp>
#include <omstream/detail/claim.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/names.hpp>
#include <omstream/detail/owner_process.hpp>
#include <omstream/detail/process.hpp>
#include <omstream/detail/ring_header.hpp>
#include <omstream/detail/shared_groups.hpp>
#include <omstream/detail/sole_producer.hpp>
#include <omstream/detail/spin_lock.hpp>
#include <omstream/detail/spin_wait.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/options.hpp>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace omstream {

namespace detail {

inline constexpr std::size_t default_ring_capacity = 1u << 16;
inline constexpr std::size_t default_ring_payload =
    1000;  // variable-length records: bytes per slot

inline std::string segment_name(std::string_view stream) {
    return "omstream." + std::string(stream);
}

[[noreturn]] inline void rethrow_interprocess(const boost::interprocess::interprocess_exception& e,
                                              const std::string& what) {
    const int native = e.get_native_error();
    if (native == EACCES || native == EPERM ||
        e.get_error_code() == boost::interprocess::security_error)
        throw error(errc::permission_denied,
                    what +
                        ": permission denied; run as the user that created it, "
                        "or have it created with om::permissions = 0660");
    if (native == ENOSPC || native == ENOMEM)
        throw error(
            errc::no_space,
            what + ": no space left in /dev/shm; remove unused streams or lower the capacity");
    throw error(errc::io_error, what + ": " + e.what());
}

// The bytes of a segment of `capacity` slots of `slot_size` bytes after the
// header, or nothing when that is more than a file can hold (2^63 - 1
// bytes): a product that wraps around would map a segment far too small.
inline std::optional<std::size_t> ring_segment_bytes(std::uint64_t capacity,
                                                     std::uint64_t slot_size) noexcept {
    std::uint64_t slots = 0, total = 0;
    if (__builtin_mul_overflow(capacity, slot_size, &slots) ||
        __builtin_add_overflow(slots, std::uint64_t{ring_header_bytes}, &total) ||
        total > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        total > std::numeric_limits<std::size_t>::max())
        return std::nullopt;
    return static_cast<std::size_t>(total);
}

__extension__ typedef unsigned __int128 uint128;  // (__extension__: no -Wpedantic warning)

// `n` in decimal (std::to_string has no 128-bit overload).
inline std::string decimal(uint128 n) {
    std::string out;
    do {
        out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
        n /= 10;
    } while (n != 0);
    return out;
}

// What allocate_file() said of a shared-memory object, as an omstream::error.
[[noreturn]] inline void throw_unallocated(int err, const std::string& what, std::size_t bytes) {
    if (err == ENOSPC || err == ENOMEM || err == EFBIG) {
        std::string free_part;
        struct statvfs vfs {};
        if (::statvfs("/dev/shm", &vfs) == 0)
            free_part = " (" + std::to_string(std::uint64_t{vfs.f_bavail} * vfs.f_frsize) +
                        " bytes free of " +
                        std::to_string(std::uint64_t{vfs.f_blocks} * vfs.f_frsize) + ")";
        throw error(errc::no_space,
                    what + " needs " + std::to_string(bytes) +
                        " bytes of shared memory, more than /dev/shm has free" + free_part +
                        "; open it with a smaller om::capacity or om::max_record_size, remove "
                        "unused streams, or make /dev/shm larger (mount -o remount,size=... "
                        "/dev/shm; docker run --shm-size=...)");
    }
    throw error(errc::io_error, what + ": cannot allocate " + std::to_string(bytes) +
                                    " bytes in /dev/shm: " + std::strerror(err));
}

// A mapped segment, shared by the handles of one process.
struct ring_mapping {
    boost::interprocess::shared_memory_object shm;
    boost::interprocess::mapped_region region;
    ring_header* header = nullptr;
    std::byte* slots = nullptr;
    std::string name;
    bool lossy = false;  // the creator's om::lossy, read once at open
    // The ring's geometry, copied from the header once it is checked: the
    // hot paths then neither reload it from the shared segment nor divide.
    std::uint64_t mask = 0;       // capacity - 1
    std::uint32_t lap_shift = 0;  // log2(capacity)
    std::size_t slot_size = 0;
    std::uint64_t prefetch_ahead = 1;  // slots in 256 bytes (at least one)

    // False when the header's capacity is not a power of two (not a ring of ours).
    bool learn_geometry() noexcept {
        const std::uint64_t capacity = header->capacity;
        if (capacity == 0 || (capacity & (capacity - 1)) != 0)
            return false;
        mask = capacity - 1;
        lap_shift = static_cast<std::uint32_t>(std::countr_zero(capacity));
        slot_size = header->slot_size;
        if (slot_size != 0)  // 0: validate() refuses the ring
            prefetch_ahead = std::max<std::uint64_t>(1, 256 / slot_size);
        return true;
    }
    std::byte* slot(std::uint64_t seq) const noexcept { return slots + (seq & mask) * slot_size; }
    std::uint32_t lap_bit(std::uint64_t seq) const noexcept {
        return ((seq >> lap_shift) & 1) ? frame_lap : 0;
    }
    // Whether slot `seq` holds the committed frame of `seq` (record or padding).
    bool published(std::uint64_t seq, std::uint32_t word) const noexcept {
        return (word & frame_committed) && (word & frame_lap) == lap_bit(seq);
    }
};

// --- lossy rings: the group state's side block (ring_header::lossy_groups) ---

inline lossy_block& lossy_block_of(ring_header& h, const group_slot& g,
                                   std::uint64_t current) noexcept {
    auto& side = h.lossy_groups[&g - h.groups.groups];
    const std::uint64_t id = current & 0xff;
    return id == initial_block ? side.initial : side.members[id / 2][id % 2];
}

// As snapshot(), with the side block of the same state.
inline std::uint64_t lossy_snapshot(ring_header& h, group_slot& g, group_block& b,
                                    lossy_block& x) noexcept {
    constexpr std::size_t words = sizeof(lossy_block) / 8;
    for (;;) {
        const std::uint64_t current = g.current.load(std::memory_order_acquire);
        copy_words(*block_of(g, current), b);
        auto* src = reinterpret_cast<std::uint64_t*>(&lossy_block_of(h, g, current));
        auto* dst = reinterpret_cast<std::uint64_t*>(&x);
        for (std::size_t i = 0; i < words; ++i)
            dst[i] = std::atomic_ref<std::uint64_t>(src[i]).load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (g.current.load(std::memory_order_relaxed) == current)
            return current;
    }
}

// As propose(), with the side block: written into the side of the spare
// block that propose() fills (the one of ours that `seen` does not name),
// before propose() publishes both with its compare-and-swap.
inline bool lossy_propose(ring_header& h, const group_member& me, std::uint64_t seen,
                          const group_block& b, const lossy_block& x) noexcept {
    constexpr std::size_t words = sizeof(lossy_block) / 8;
    const std::uint64_t mine = me.index * 2;
    const std::uint64_t spare = (seen & 0xff) == mine ? mine + 1 : mine;
    auto* dst = reinterpret_cast<std::uint64_t*>(
        &h.lossy_groups[me.group - h.groups.groups].members[me.index][spare % 2]);
    const auto* src = reinterpret_cast<const std::uint64_t*>(&x);
    std::atomic_thread_fence(std::memory_order_release);
    for (std::size_t i = 0; i < words; ++i)
        std::atomic_ref<std::uint64_t>(dst[i]).store(src[i], std::memory_order_relaxed);
    return propose(me, seen, b);
}

// As finish_window(), keeping each window's lost count with it.
inline void lossy_finish_window(ring_header& h, const group_member& me, std::uint64_t first_seq,
                                bool committed) {
    group_block b;
    lossy_block x;
    for (;;) {
        const std::uint64_t seen = lossy_snapshot(h, *me.group, b, x);
        const std::uint64_t i = own_window(me, b, first_seq);
        if (i == b.out)
            return;  // taken over meanwhile: it will come again
        if (committed) {
            b.handed_out[i] = b.handed_out[b.out - 1];
            x.lost_before[i] = x.lost_before[b.out - 1];
            --b.out;
            ++b.windows;
        } else {
            b.handed_out[i].owner = 0;
        }
        if (lossy_propose(h, me, seen, b, x))
            return;
    }
}

// Reads a stream's metadata from its header: everything but the records.
inline stream_metadata ring_metadata(const ring_mapping& m) {
    const ring_header& h = *m.header;
    stream_metadata md;
    md.name = m.name;
    md.kind = "stream.shm_ring";
    md.created_ns = h.created_ns;
    md.record_type = std::string(h.record_type, strnlen(h.record_type, sizeof h.record_type));
    md.layout = std::string(h.layout, strnlen(h.layout, sizeof h.layout));
    md.fingerprint = h.fingerprint;
    md.capacity = h.capacity;
    md.lossy = (h.flags & ring_lossy) != 0;
    md.appended = h.tail.load(std::memory_order_acquire);
    md.dropped = h.skipped.load(std::memory_order_relaxed);
    // Lossy: what lies below this was overwritten, whatever the groups say.
    const std::uint64_t held_from = md.appended > h.capacity ? md.appended - h.capacity : 0;
    std::uint64_t low = md.appended;
    bool any = false;
    auto& groups = const_cast<ring_header&>(h).groups.groups;
    for (auto& g : groups) {
        if (g.status.load(std::memory_order_acquire) != group_active)
            continue;
        group_block b;
        lossy_block x{};
        if (m.lossy)
            lossy_snapshot(const_cast<ring_header&>(h), g, b, x);
        else
            snapshot(g, b);
        any = true;
        low = std::min(low, b.committed());
        md.late += b.late;
        group_metadata gm;
        gm.name = std::string(g.name, std::min<std::size_t>(g.name_length, shared_group_name_max));
        gm.position = b.next;
        gm.committed = b.committed();
        gm.windows = b.windows;
        gm.late = b.late;
        gm.expired = b.expired;
        // Lost so far: what the group gave up, and what was overwritten before
        // it noticed (ahead of its position, or in a window nobody holds).
        gm.lost = x.lost;
        if (m.lossy) {
            gm.lost += held_from > b.next ? held_from - b.next : 0;
            for (std::uint64_t i = 0; i < b.out; ++i)
                if (b.handed_out[i].first_seq < held_from)
                    gm.lost += b.handed_out[i].count;
        }
        gm.in_flight = static_cast<std::size_t>(b.out);
        md.groups.push_back(std::move(gm));
    }
    if (!any || m.lossy)
        low = any ? std::max(low, held_from) : held_from;
    md.first_seq = low;
    md.retained = md.appended - low;
    return md;
}

}  // namespace detail

template <class T>
class shm_ring {
    static_assert(check_record<T>());
    static constexpr bool fixed = record_traits<T>::fixed_size;

  public:
    using storage_concept = storage_tag;
    using record_type = T;
    using group_handle = detail::group_member;
    using claim_type = detail::log_claim<T>;
    // Group names live in fixed slots of the shared group table.
    static constexpr std::size_t max_group_name_length = detail::shared_group_name_max;
    using accepted_options =
        boost::hana::tuple<boost::hana::type<capacity_option>,
                           boost::hana::type<permissions_option>, boost::hana::type<lossy_option>>;
    static constexpr std::string_view kind = "stream.shm_ring";

    // Opens the segment /dev/shm/omstream.<name>, creating it at first
    // access with `capacity` slots (rounded up to a power of two) of
    // `max_record_size` payload bytes each, lossy or not (`lossy`, fixed at
    // creation: a handle that does not say takes the creator's choice, one
    // that says the opposite is refused with errc::invalid_option).
    template <class Options>
    static shm_ring open(std::string_view name, const Options& options) {
        detail::check_stream_name(name);
        std::size_t slots = options.template get<capacity_option>(detail::default_ring_capacity);
        const std::size_t payload = options.template get<max_record_size_option>(
            fixed ? codec<T>::fixed_size : detail::default_ring_payload);
        const unsigned mode = options.template get<permissions_option>(0600);
        const bool is_lossy = options.template get<lossy_option>(false);
        if (slots < 2 || slots > (std::size_t{1} << 40))
            throw error(errc::invalid_option,
                        "shm_ring capacity must be between 2 and 2^40 records");
        if (payload == 0 || payload > detail::max_payload ||
            (fixed && payload < codec<T>::fixed_size))
            throw error(errc::invalid_option,
                        "shm_ring max_record_size must hold one record (at least " +
                            std::to_string(fixed ? codec<T>::fixed_size : 1) + " bytes)");
        const std::size_t requested = slots;
        slots = std::bit_ceil(slots);
        const std::size_t slot_size =
            fixed ? detail::frame_size(codec<T>::fixed_size) : detail::frame_size(payload);
        const auto total = detail::ring_segment_bytes(slots, slot_size);
        if (!total)
            throw error(
                errc::invalid_option,
                "shm_ring '" + std::string(name) + "': capacity " + std::to_string(slots) +
                    (slots != requested
                         ? " (" + std::to_string(requested) + " rounded up to a power of two)"
                         : std::string()) +
                    " slots of " + std::to_string(slot_size) + " bytes (max_record_size " +
                    std::to_string(fixed ? codec<T>::fixed_size : payload) + ") would need " +
                    detail::decimal(static_cast<detail::uint128>(slots) * slot_size +
                                    detail::ring_header_bytes) +
                    " bytes, more than a shared-memory segment can hold (2^63 - 1 bytes); lower "
                    "om::capacity or om::max_record_size");
        auto m = map(name, slots, slot_size, fixed ? codec<T>::fixed_size : payload, *total, mode,
                     is_lossy);
        if (Options::template has<lossy_option> && m->lossy != is_lossy)
            throw error(errc::invalid_option,
                        "shared-memory stream '" + std::string(name) + "' was created " +
                            (m->lossy ? "lossy" : "not lossy") +
                            ", not opened with om::lossy = " + (is_lossy ? "true" : "false") +
                            "; leave om::lossy out to take the stream as it is, or remove it and "
                            "create it again");
        check_settings_given<Options>(*m, slots, requested, payload);
        return shm_ring(std::move(m));
    }

    // Deletes the segment; processes that have it mapped keep their mapping.
    static bool remove(std::string_view name) {
        detail::check_stream_name(name);
        return boost::interprocess::shared_memory_object::remove(
            detail::segment_name(name).c_str());
    }

    // Removes the consumer group `group_name` of the stream `name` (any record
    // type): it holds no records back any more (producers waiting for it go
    // on), leaves metadata, and a later consumer of that name starts a new
    // group. Refused with errc::in_use while a member of it lives. Returns
    // false when there is no such stream or group.
    static bool remove_group(std::string_view name, std::string_view group_name) {
        detail::check_stream_name(name);
        const std::string what = "removing group '" + std::string(group_name) +
                                 "' of shared-memory stream '" + std::string(name) + "'";
        std::shared_ptr<detail::ring_mapping> m;
        try {
            m = attach_raw(std::string(name));
        } catch (const boost::interprocess::interprocess_exception& e) {
            if (e.get_error_code() == boost::interprocess::not_found_error)
                return false;
            rethrow_as(what, e);
        }
        if (!m)
            throw error(errc::corrupt, what +
                                           ": the segment is not a ring of this version (format " +
                                           std::to_string(detail::ring_format_version) +
                                           "), or is still being created; nothing was removed");
        // Whether a member lives is told by its process ID.
        detail::check_pid_namespace(pid_namespace_of(*m->header), what,
                                    "or remove the group from a process of theirs");
        const bool removed = detail::remove_group(m->header->groups, group_name, name);
        if (removed)
            m->header->space.wake();  // producers may have waited for its room
        return removed;
    }

    // The shared-memory streams on this host (any record type).
    static std::vector<stream_metadata> list() {
        std::vector<stream_metadata> out;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
            const std::string file = entry.path().filename().string();
            if (file.rfind("omstream.", 0) != 0)
                continue;
            try {
                auto m = attach_raw(file.substr(9));
                if (m)
                    out.push_back(detail::ring_metadata(*m));
            } catch (const std::exception&) {
                // not readable or not ours: not listed
            }
        }
        return out;
    }

    // --- producers -----------------------------------------------------------

    template <class Range>
    void append(const Range& records, std::int64_t created_ns,
                std::chrono::nanoseconds wait_limit = std::chrono::nanoseconds(-1)) {
        put(records, detail::stamp_at{created_ns}, wait_limit, false);
    }
    void append(const T* first, std::size_t n, std::int64_t created_ns) {
        append(std::span<const T>(first, n), created_ns);
    }
    template <class Range>
    bool try_append(const Range& records, std::int64_t created_ns) {
        return put(records, detail::stamp_at{created_ns}, std::chrono::nanoseconds::zero(), true);
    }
    // One record, with its `created` time from `stamp()`, read once its slot
    // is claimed: the clock's latency then overlaps the write instead of
    // holding up the claim. `try_only`: false instead of waiting for room.
    template <class Stamp>
    bool append_one(const T& record, Stamp&& stamp, std::chrono::nanoseconds wait_limit,
                    bool try_only) {
        return put(std::span<const T>(&record, 1), stamp, wait_limit, try_only);
    }
    bool try_append(const T* first, std::size_t n, std::int64_t created_ns) {
        return try_append(std::span<const T>(first, n), created_ns);
    }

    // --- consumers -----------------------------------------------------------

    group_handle join(std::string_view group_name, std::span<const std::byte> initial_state,
                      const detail::emitter_identity& emitter = {}) {
        detail::own_for_consuming(*local_, "shm_ring", m_->name);
        auto& h = *m_->header;
        // A new group starts at the oldest record still held.
        auto oldest_held = [&] {
            const std::uint64_t tail = h.tail.load(std::memory_order_acquire);
            std::uint64_t low = tail > h.capacity ? tail - h.capacity : 0;
            bool any = false;
            std::uint64_t committed = tail;
            for (auto& g : h.groups.groups) {
                if (g.status.load(std::memory_order_acquire) != detail::group_active)
                    continue;
                any = true;
                committed = std::min(committed, g.committed.load(std::memory_order_acquire));
            }
            return any ? std::max(low, committed) : low;
        };
        local_->member =
            detail::join_group(h.groups, group_name, initial_state, oldest_held, m_->name, emitter);
        if (m_->lossy) {
            const auto group_index =
                static_cast<std::size_t>(local_->member.group - h.groups.groups);
            local_->pin = &h.pins[group_index].seq[local_->member.index];
            // A dead member may have left its pin in this slot: ours now.
            local_->pin->store(detail::no_pin, std::memory_order_release);
            local_->held.clear();
            local_->held.reserve(detail::shared_max_windows);
            // Before our first pin (producers look at these groups' pins only).
            h.pinning_groups.fetch_or(std::uint64_t{1} << group_index, std::memory_order_seq_cst);
        }
        return local_->member;
    }

    template <class Pick>
    claim_type claim(const group_handle& me, const detail::lazy_now& now,
                     detail::claim_buffers& buffers, Pick&& pick) {
        detail::own_for_consuming(*local_, "shm_ring", m_->name);
        if (m_->lossy) [[unlikely]]
            return claim_lossy_window(me, now, buffers, pick);
        return claim_from<false>(me, now, buffers, pick);
    }

    void commit(const group_handle& me, std::uint64_t ticket) {
        detail::own_for_consuming(*local_, "shm_ring", m_->name);  // not a parent's window
        if (m_->lossy) [[unlikely]] {
            finish_lossy(me, ticket, true);
            m_->header->space.wake();
        } else if (detail::finish_window(me, local_->block, ticket, true)) {
            // Producers wait for room only on the watermark, which the
            // commit raised with a locked instruction: no fence needed.
            m_->header->space.wake_ordered();
        }
    }
    void abandon(const group_handle& me, std::uint64_t ticket) {
        if (!detail::owns_its_windows(*local_)) [[unlikely]]
            return;  // the parent's window: it comes again when the parent gives it up
        if (m_->lossy) [[unlikely]]
            finish_lossy(me, ticket, false);  // whoever takes it over pins it again
        else
            detail::finish_window(me, local_->block, ticket, false);
        m_->header->consumers.wake_always();  // another member may take it now
    }

    detail::host_wait_word consumer_signal() noexcept {
        return detail::host_wait_word(m_->header->consumers);
    }

    // The longest a consumer may sleep: short while a slot's writer may have
    // died, or while windows of other members are out (one of them may die).
    std::chrono::nanoseconds max_sleep() const noexcept {
        if (local_->stuck.at() != detail::stuck_watch::none) {
            // Waiting on a claimed slot, or only on the end of the ring?
            if (local_->stuck.at() < m_->header->tail.load(std::memory_order_acquire))
                return detail::stuck_check_after;
            local_->stuck.clear();
        }
        if (local_->others_out)
            return detail::dead_member_check_every;
        return std::chrono::nanoseconds(-1);  // idle: sleep until a record (or a producer) wakes us
    }

    std::vector<buffered_entry<T>> buffer(std::string_view group_name) {
        const auto md = metadata();
        std::uint64_t processed_below = 0;
        for (const auto& g : md.groups)
            if (g.name == group_name)
                processed_below = g.committed;
        std::vector<buffered_entry<T>> out;
        const std::uint64_t end = md.appended;
        for (std::uint64_t s = md.first_seq; s < end; ++s) {
            const std::byte* frame = m_->slot(s);
            const std::uint32_t word = detail::load_length(frame);
            if (!m_->published(s, word) || (word & detail::frame_padding))
                continue;
            buffered_entry<T> e{s, detail::header_of(frame).created, s < processed_below,
                                T(codec<T>::decode(detail::payload_of(frame)))};
            // A producer may reuse a processed slot meanwhile: keep only what is still ours.
            if (detail::load_length(frame) == word && detail::header_of(frame).seq == s)
                out.push_back(std::move(e));
        }
        return out;
    }

    stream_metadata metadata() const { return detail::ring_metadata(*m_); }
    const std::string& name() const noexcept { return m_->name; }
    std::size_t capacity() const noexcept { return m_->header->capacity; }
    // Whether the stream was created lossy (om::lossy = true): then a full
    // ring overwrites the oldest records no group holds in a window.
    bool lossy() const noexcept { return m_->lossy; }

  private:
    // What one handle keeps for itself: its producer slot, its group
    // membership, and how far it has seen slots published.
    struct local_state {
        detail::owner_process owner;    // see detail::adopt_handle()
        bool inherited_member = false;  // our group membership was a parent's
        std::shared_ptr<detail::ring_mapping> mapping;
        int producer = -1;
        std::uint64_t sole_id = 0;  // our producer slot's name in the sole-producer word
        detail::group_member member;
        detail::block_cache block;  // our group's state, as we last saw or made it
        std::uint64_t scanned = 0;
        std::uint64_t low_cache = 0;  // lowest committed position, as last computed
        detail::stuck_watch stuck;    // the unpublished slot scan() waits on
        std::uint32_t end_word = 0;   // the length word of the slot where scan() stopped
        // The emitter's last `wait`, and what it saw (see still_idle()).
        struct {
            bool valid = false;
            std::uint64_t current = 0;  // the group's `current` word
            std::uint64_t end = 0;      // the slot watched (see watch())
            std::uint32_t end_word = 0;
            std::int64_t deadline_ns = 0;
            std::uint64_t polls = 0;
            std::uint64_t full_every = 8;  // polls; see still_idle()
        } idle;
        bool others_out = false;  // windows of other members are out (one of them may die)
        std::chrono::steady_clock::time_point last_dead_check{};
        // Lossy rings: this member's pin word, the first records of the
        // windows it holds, and the pins of dead members a producer ignores.
        std::atomic<std::uint64_t>* pin = nullptr;
        std::vector<std::uint64_t> held;
        struct dead_pin {
            std::size_t group, member;
            std::uint64_t token;  // the member slot's token when it was found dead
        };
        std::vector<dead_pin> dead_pins;
        std::chrono::steady_clock::time_point last_pin_check{};
        std::chrono::steady_clock::time_point pinned_since{};
        std::uint64_t busy_seq = ~std::uint64_t{0};  // a slot whose last lap is still written
        std::chrono::steady_clock::time_point busy_since{};

        ~local_state() {
            if (!owner.here())
                return;  // a child of fork(): the slots are its parent's
            if (pin != nullptr)
                pin->store(detail::no_pin, std::memory_order_release);
            detail::leave_group(member);
            if (producer >= 0) {
                auto& h = *mapping->header;
                sole_claims(h).release(static_cast<std::size_t>(producer), sole_id);
                auto& p = h.producers[producer];
                p.token.store(0, std::memory_order_release);
            }
        }
    };

    explicit shm_ring(std::shared_ptr<detail::ring_mapping> m)
        : m_(std::move(m)), local_(std::make_shared<local_state>()) {
        local_->mapping = m_;
    }

    // --- opening ---

    // `total`: the segment's bytes for `slots` and `slot_size`
    // (detail::ring_segment_bytes(), checked by open()).
    static std::shared_ptr<detail::ring_mapping> map(std::string_view name, std::size_t slots,
                                                     std::size_t slot_size, std::size_t payload,
                                                     std::size_t total, unsigned mode,
                                                     bool is_lossy) {
        namespace bip = boost::interprocess;
        auto m = std::make_shared<detail::ring_mapping>();
        m->name = std::string(name);
        const std::string seg = detail::segment_name(name);
        // Before anything is made: a process that cannot tell live processes
        // from dead ones must not share a ring.
        const std::uint32_t ns =
            detail::pid_namespace("shared-memory stream '" + m->name + "' (/dev/shm/" + seg + ")");
        bool created = false;
        try {
            bip::permissions perm(mode);
            m->shm =
                bip::shared_memory_object(bip::create_only, seg.c_str(), bip::read_write, perm);
            created = true;
            // Sized first, so that openers meanwhile see how large it will be.
            m->shm.truncate(static_cast<bip::offset_t>(total));
        } catch (const bip::interprocess_exception& e) {
            if (created) {
                bip::shared_memory_object::remove(seg.c_str());
                rethrow_as("creating shared-memory stream '" + m->name + "'", e);
            }
            if (e.get_error_code() != bip::already_exists_error)
                rethrow_as("creating shared-memory stream '" + m->name + "'", e);
            try {
                m->shm = bip::shared_memory_object(bip::open_only, seg.c_str(), bip::read_write);
            } catch (const bip::interprocess_exception& e2) {
                rethrow_as("opening shared-memory stream '" + m->name + "'", e2);
            }
        }
        const int fd = m->shm.get_mapping_handle().handle;
        bip::offset_t shm_size = 0;
        // A creator that has not sized the segment yet: give it a moment.
        for (int i = 0; i < 200 && !created && m->shm.get_size(shm_size) && shm_size == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        m->shm.get_size(shm_size);
        bool sized_here = created;
        if (shm_size == 0) {  // its creator died before sizing it: take it over
            try {
                m->shm.truncate(static_cast<bip::offset_t>(total));
            } catch (const bip::interprocess_exception& e) {
                rethrow_as("creating shared-memory stream '" + m->name + "'", e);
            }
            shm_size = static_cast<bip::offset_t>(total);
            sized_here = true;
        }
        if (static_cast<std::size_t>(shm_size) < detail::ring_header_bytes)
            throw error(errc::corrupt,
                        "/dev/shm/" + seg + " is " + std::to_string(shm_size) +
                            " bytes, too small for an omstream segment (truncated or not ours); "
                            "remove it with shm_ring<T>::remove(\"" +
                            m->name + "\")");
        // The memory behind the slots, now: a full /dev/shm is errc::no_space
        // here rather than a SIGBUS at some append. The creator backs the
        // whole segment; an opener the header it reads before it checks it,
        // and the rest below, sized by the checked header.
        if (const int err =
                detail::allocate_file(fd, sized_here ? total : detail::ring_header_bytes)) {
            if (sized_here)  // half made: the next opener must not find it
                bip::shared_memory_object::remove(seg.c_str());
            detail::throw_unallocated(err,
                                      (sized_here ? "creating" : "opening") +
                                          std::string(" shared-memory stream '") + m->name + "'",
                                      sized_here ? total : static_cast<std::size_t>(shm_size));
        }
        try {
            // Populated up front: a fresh ring would otherwise take a page
            // fault per 4 KiB on its first lap (5-40 us each on this VM).
            m->region = bip::mapped_region(m->shm, bip::read_write, 0, 0, nullptr, MAP_POPULATE);
        } catch (const bip::interprocess_exception& e) {
            if (sized_here)
                bip::shared_memory_object::remove(seg.c_str());
            rethrow_as("mapping shared-memory stream '" + m->name + "'", e);
        }
        m->header = static_cast<detail::ring_header*>(m->region.get_address());
        m->slots = static_cast<std::byte*>(m->region.get_address()) + detail::ring_header_bytes;
        auto& h = *m->header;
        if (created) {
            initialise(h, slots, slot_size, payload, is_lossy, ns);
        } else {
            wait_ready(*m, slots, slot_size, payload, is_lossy, ns);
        }
        validate(*m, static_cast<std::size_t>(shm_size));
        (void)m->learn_geometry();  // validate() checked the capacity
        if (!sized_here) {
            const std::size_t bytes = *detail::ring_segment_bytes(h.capacity, h.slot_size);
            if (const int err = detail::allocate_file(fd, bytes))
                detail::throw_unallocated(err, "opening shared-memory stream '" + m->name + "'",
                                          bytes);
        }
        m->lossy = (h.flags & detail::ring_lossy) != 0;
        return m;
    }

    // An existing ring keeps the geometry it was created with: an open that
    // names another capacity or max_record_size would otherwise get a ring
    // other than the one it asked for without a word. `slots`: the capacity
    // asked for after rounding, `requested` before.
    template <class Options>
    static void check_settings_given(const detail::ring_mapping& m, std::size_t slots,
                                     std::size_t requested, std::size_t payload) {
        const auto& h = *m.header;
        auto refuse = [&](const char* option, std::uint64_t kept, const std::string& asked) {
            throw error(errc::invalid_option,
                        "shared-memory stream '" + m.name + "' was created with " + option + " " +
                            std::to_string(kept) + " and this open asks for " + asked +
                            ": a ring's " + option + " is fixed at creation; leave om::" + option +
                            " out to take the ring's, or remove the ring to start anew");
        };
        if (Options::template has<capacity_option> && h.capacity != slots)
            refuse("capacity", h.capacity,
                   std::to_string(slots) +
                       (slots != requested
                            ? " (" + std::to_string(requested) + " rounded up to a power of two)"
                            : std::string()));
        // A fixed-size record's slots fit it whatever the option said at creation.
        if (Options::template has<max_record_size_option> && !fixed && h.max_payload != payload)
            refuse("max_record_size", h.max_payload, std::to_string(payload));
    }

    [[noreturn]] static void rethrow_as(const std::string& what,
                                        const boost::interprocess::interprocess_exception& e) {
        detail::rethrow_interprocess(e, what);
    }

    // Opens an existing segment without checking its record type (for list()).
    static std::shared_ptr<detail::ring_mapping> attach_raw(const std::string& name) {
        namespace bip = boost::interprocess;
        auto m = std::make_shared<detail::ring_mapping>();
        m->name = name;
        m->shm = bip::shared_memory_object(bip::open_only, detail::segment_name(name).c_str(),
                                           bip::read_write);
        bip::offset_t shm_size = 0;
        if (!m->shm.get_size(shm_size) ||
            static_cast<std::size_t>(shm_size) < detail::ring_header_bytes)
            return nullptr;
        // Reading a header page /dev/shm never backed would be a SIGBUS.
        if (detail::allocate_file(m->shm.get_mapping_handle().handle, detail::ring_header_bytes) !=
            0)
            return nullptr;
        m->region = bip::mapped_region(m->shm, bip::read_write);
        m->header = static_cast<detail::ring_header*>(m->region.get_address());
        m->slots = static_cast<std::byte*>(m->region.get_address()) + detail::ring_header_bytes;
        if (m->header->magic != detail::ring_magic ||
            m->header->version != detail::ring_format_version ||
            m->header->ready.load(std::memory_order_acquire) != 1 || !m->learn_geometry())
            return nullptr;
        const auto bytes = detail::ring_segment_bytes(m->header->capacity, m->slot_size);
        if (!bytes || *bytes > static_cast<std::size_t>(shm_size))
            return nullptr;
        m->lossy = (m->header->flags & detail::ring_lossy) != 0;
        return m;
    }

    static void initialise(detail::ring_header& h, std::size_t slots, std::size_t slot_size,
                           std::size_t payload, bool is_lossy, std::uint32_t ns) {
        const auto me = detail::process_id::self();
        h.init_owner.store(setter(me.pid, ns), std::memory_order_release);
        // Everything past the fixed 32 bytes starts from zero (a dead
        // initialiser may have left half a header behind).
        std::memset(reinterpret_cast<std::byte*>(&h) + 32, 0, detail::ring_header_bytes - 32);
        h.creator_pid = me.pid;
        h.created_ns = detail::to_ns<std::chrono::system_clock>(std::chrono::system_clock::now());
        h.capacity = slots;
        h.slot_size = slot_size;
        h.max_payload = static_cast<std::uint32_t>(payload);
        h.fingerprint = record_traits<T>::fingerprint();
        h.flags = is_lossy ? detail::ring_lossy : 0;
        for (auto& group_pins : h.pins)
            for (auto& pin : group_pins.seq)
                pin.store(detail::no_pin, std::memory_order_relaxed);
        const std::string type = record_traits<T>::name(), layout = record_traits<T>::layout();
        std::memcpy(h.record_type, type.data(), std::min(type.size(), sizeof h.record_type - 1));
        std::memcpy(h.layout, layout.data(), std::min(layout.size(), sizeof h.layout - 1));
        h.version = detail::ring_format_version;
        h.header_bytes = static_cast<std::uint32_t>(detail::ring_header_bytes);
        h.magic = detail::ring_magic;
        h.ready.store(1, std::memory_order_release);
    }

    // Waits for the creator to finish setting the segment up, and sets it up
    // itself when the creator died halfway (never waits forever).
    static void wait_ready(detail::ring_mapping& m, std::size_t slots, std::size_t slot_size,
                           std::size_t payload, bool is_lossy, std::uint32_t ns) {
        auto& h = *m.header;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (h.ready.load(std::memory_order_acquire) != 1) {
            if (h.ready.load(std::memory_order_relaxed) != 0 ||
                (h.magic != detail::ring_magic && h.magic != std::array<char, 8>{}))
                return;  // garbage: validate() says so
            std::uint64_t owner = h.init_owner.load(std::memory_order_acquire);
            // A setter of another namespace cannot be judged from here.
            if (const auto theirs = static_cast<std::uint32_t>(owner >> 32);
                theirs != 0 && theirs != ns)
                detail::check_pid_namespace(theirs, "shared-memory stream '" + m.name + "'",
                                            "or remove the stream with shm_ring<T>::remove");
            const bool owner_dead =
                owner != 0 && !detail::process_alive(static_cast<std::uint32_t>(owner), 0);
            const bool never_started =
                owner == 0 && std::chrono::steady_clock::now() > give_up - std::chrono::seconds(4);
            if ((owner_dead || never_started) &&
                h.init_owner.compare_exchange_strong(owner,
                                                     setter(detail::process_id::self().pid, ns))) {
                if (h.capacity != 0) {  // keep the size the segment was made for
                    slots = h.capacity;
                    slot_size = h.slot_size;
                    payload = h.max_payload;
                    is_lossy = (h.flags & detail::ring_lossy) != 0;
                }
                initialise(h, slots, slot_size, payload, is_lossy, ns);
                return;
            }
            if (std::chrono::steady_clock::now() > give_up)
                throw error(errc::corrupt, "shared-memory stream '" + m.name +
                                               "' was never set up by its creator; remove it with "
                                               "shm_ring<T>::remove and open it again");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    // Who sets the ring up: its pid, and in the high half its PID namespace,
    // which a waiter reads in the same load (one of another namespace must
    // not judge whether the setter lives).
    static std::uint64_t setter(std::uint32_t pid, std::uint32_t ns) noexcept {
        return (std::uint64_t{ns} << 32) | pid;
    }

    // The namespace of the ring's users: its setter's, kept in init_owner.
    static std::uint32_t pid_namespace_of(const detail::ring_header& h) noexcept {
        return static_cast<std::uint32_t>(h.init_owner.load(std::memory_order_acquire) >> 32);
    }

    static void validate(const detail::ring_mapping& m, std::size_t shm_size) {
        const auto& h = *m.header;
        const std::string where =
            "shared-memory stream '" + m.name + "' (/dev/shm/" + detail::segment_name(m.name) + ")";
        if (h.magic != detail::ring_magic || h.ready.load(std::memory_order_acquire) != 1)
            throw error(errc::corrupt,
                        where +
                            " is not an omstream segment (bad magic number); remove it "
                            "with shm_ring<T>::remove(\"" +
                            m.name + "\")");
        if (h.version != detail::ring_format_version)
            throw error(errc::version_mismatch,
                        where + " has format version " + std::to_string(h.version) +
                            ", this omstream reads " + std::to_string(detail::ring_format_version) +
                            "; use the omstream version that wrote it, or remove the stream");
        if (h.fingerprint != record_traits<T>::fingerprint()) {
            const std::string theirs(h.layout, strnlen(h.layout, sizeof h.layout));
            throw error(errc::type_mismatch,
                        where + " holds records of type " + theirs + ", not " +
                            record_traits<T>::layout() +
                            "; open it with the type it was created with, or use another name");
        }
        detail::check_pid_namespace(pid_namespace_of(*m.header), where,
                                    "or remove the stream with shm_ring<T>::remove(\"" + m.name +
                                        "\") once its users are gone");
        // The segment's bytes, were the header right: a product that wraps
        // around would pass for a small one.
        const auto bytes = detail::ring_segment_bytes(h.capacity, h.slot_size);
        if (h.capacity == 0 || (h.capacity & (h.capacity - 1)) != 0 ||
            h.slot_size < sizeof(detail::frame_header) ||
            h.header_bytes != detail::ring_header_bytes || !bytes || *bytes > shm_size ||
            h.max_payload + sizeof(detail::frame_header) > h.slot_size)
            throw error(errc::corrupt, where + " has an inconsistent header (capacity " +
                                           std::to_string(h.capacity) + ", slot size " +
                                           std::to_string(h.slot_size) + ", " +
                                           std::to_string(shm_size) +
                                           " bytes); remove it with shm_ring<T>::remove");
        if (fixed && h.slot_size != detail::frame_size(codec<T>::fixed_size))
            throw error(errc::corrupt,
                        where + " has slots of " + std::to_string(h.slot_size) + " bytes, not " +
                            std::to_string(detail::frame_size(codec<T>::fixed_size)));
    }

    // --- producing ---

    std::size_t max_payload() const noexcept { return m_->header->max_payload; }

    // Who claims plainly (detail/sole_producer.hpp).
    static detail::sole_producer<detail::producer_slot> sole_claims(
        detail::ring_header& h) noexcept {
        return {h.sole, h.producers};
    }

    int producer_slot() {
        if (local_->producer >= 0)
            return local_->producer;
        const auto me = detail::process_id::self();
        auto& slots = m_->header->producers;
        for (int round = 0; round < 2; ++round) {
            for (std::size_t i = 0; i < detail::max_producers; ++i) {
                auto& p = slots[i];
                std::uint64_t token = p.token.load(std::memory_order_acquire);
                if (token != 0 && (round == 0 || detail::process_alive(
                                                     static_cast<std::uint32_t>(token),
                                                     p.start_time.load(std::memory_order_relaxed))))
                    continue;
                // A dead producer's claim may still be unpublished: leave its
                // intent for readers to find until we make our own.
                if (!p.token.compare_exchange_strong(token, me.pid, std::memory_order_acq_rel))
                    continue;
                p.start_time.store(me.start_time, std::memory_order_relaxed);
                if (m_->lossy) {  // consumers of a lossy ring look at this many intents
                    std::uint64_t used = m_->header->producers_used.load(std::memory_order_seq_cst);
                    while (used < i + 1 && !m_->header->producers_used.compare_exchange_weak(
                                               used, i + 1, std::memory_order_seq_cst)) {
                    }
                }
                local_->producer = static_cast<int>(i);
                local_->sole_id = detail::sole_id(i, me.pid);
                return local_->producer;
            }
        }
        throw error(errc::full,
                    "shared-memory stream '" + m_->name + "' has " +
                        std::to_string(detail::max_producers) +
                        " live producer handles already; share handles within a process");
    }

    template <class Range, class Stamp>
    bool put(const Range& records, Stamp&& stamp, std::chrono::nanoseconds wait_limit,
             bool try_only) {
        detail::own_for_producing(*local_);
        auto& h = *m_->header;
        const std::size_t n = static_cast<std::size_t>(std::ranges::distance(records));
        if (n == 0)
            return true;
        if (n > h.capacity)
            throw error(errc::record_too_large,
                        "a batch of " + std::to_string(n) +
                            " records exceeds the capacity of shared-memory stream '" + m_->name +
                            "' (" + std::to_string(h.capacity) + "); append it in smaller batches");
        if constexpr (!fixed) {
            for (const auto& r : records) {
                const std::size_t encoded = codec<T>::encoded_size(r);
                if (encoded > max_payload())
                    throw error(errc::record_too_large,
                                "a record of " + std::to_string(encoded) +
                                    " bytes does not fit the " + std::to_string(max_payload()) +
                                    "-byte max_record_size of shared-memory stream '" + m_->name +
                                    "'; create the stream with a larger om::max_record_size");
            }
        }
        const auto slot = static_cast<std::size_t>(producer_slot());
        auto& me = h.producers[slot];
        std::chrono::steady_clock::time_point give_up{};
        std::uint64_t t = h.tail.load(std::memory_order_acquire);
        if (m_->lossy) {  // overwrites the oldest records when full (see "lossy rings")
            if (!claim_lossy_space(me, t, n, wait_limit, try_only))
                return false;
            write_or_give_up(records, t, n, stamp);
            me.from.store(t + n, std::memory_order_release);
            detail::host_wait_word(h.consumers).wake();
            return true;
        }
        const auto sole = sole_claims(h);
        using claim = std::remove_cvref_t<decltype(sole)>::claim;
        for (;;) {
            if (t + n > local_->low_cache + h.capacity) {
                local_->low_cache = detail::lowest_committed(m_->header->groups);
                if (t + n > local_->low_cache + h.capacity) {
                    // No claim in flight while we wait (sole_producer waits for those).
                    me.to.store(me.from.load(std::memory_order_relaxed), std::memory_order_release);
                    if (try_only)
                        return false;
                    wait_for_room(n, wait_limit, give_up);
                    t = h.tail.load(std::memory_order_acquire);
                    continue;
                }
            }
            // Say what we claim before we claim it (see producer_slot).
            me.from.store(t, std::memory_order_relaxed);
            me.to.store(t + n, std::memory_order_relaxed);
            const claim how = sole.how(local_->sole_id);
            if (how == claim::plain) {
                h.tail.store(t + n, std::memory_order_release);  // nobody else claims
                break;
            }
            if (how == claim::shared) {
                if (h.tail.compare_exchange_weak(t, t + n, std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
                    break;
                continue;
            }
            me.to.store(t, std::memory_order_release);  // withdrawn while the word settles
            sole.settle(slot, local_->sole_id);
            t = h.tail.load(std::memory_order_acquire);
        }
        prefetch_for_write(t + n);
        write_or_give_up(records, t, n, stamp);
        me.from.store(t + n,
                      std::memory_order_release);  // the claim is published: nothing to watch
        detail::host_wait_word(h.consumers).wake();
        return true;
    }

    void wait_for_room(std::size_t n, std::chrono::nanoseconds wait_limit,
                       std::chrono::steady_clock::time_point& give_up) {
        auto& h = *m_->header;
        auto room = [&] {
            return h.tail.load(std::memory_order_acquire) + n <=
                   detail::lowest_committed(h.groups) + h.capacity;
        };
        detail::wait_for_room(room, h.space, h.consumers, wait_limit, give_up, [&] {
            throw error(
                errc::full,
                "shared-memory stream '" + m_->name + "' stayed full (capacity " +
                    std::to_string(h.capacity) +
                    " records unprocessed by its slowest group) for the whole timeout; consume "
                    "faster, or create the stream with a larger capacity");
        });
    }

    // Asks for the line of a slot a few hundred bytes on in exclusive state
    // now: a consumer that read it a lap ago may hold it shared, and an
    // append that has to wait for it then stalls the next locked claim.
    void prefetch_for_write([[maybe_unused]] std::uint64_t seq) const noexcept {
#if defined(__x86_64__) || defined(__i386__)
        asm volatile("prefetchw %0" ::"m"(*m_->slot(seq + m_->prefetch_ahead)));
#endif
    }

    // write() of our claim [first, first + n), which becomes padding if the
    // codec (or the clock) throws: readers give up only a dead producer's
    // claim, so they would wait for this one as long as we live.
    template <class Range, class Stamp>
    void write_or_give_up(const Range& records, std::uint64_t first, std::size_t n, Stamp& stamp) {
        try {
            write(records, first, n, stamp());
        } catch (...) {
            give_up_own_claim(first, n);
            m_->header->producers[local_->producer].from.store(first + n,
                                                               std::memory_order_release);
            detail::host_wait_word(m_->header->consumers).wake();
            throw;
        }
    }

    // As give_up_slot() does for a dead writer, but no reader can race us for
    // our own claim. Counted first (spans() relies on it); the first slot
    // last, since it holds readers back (a batch is all or none, and some of
    // its later slots may be published already).
    void give_up_own_claim(std::uint64_t first, std::size_t n) noexcept {
        m_->header->skipped.fetch_add(n, std::memory_order_relaxed);
        for (std::size_t i = n; i-- > 0;) {
            const std::uint64_t seq = first + i;
            detail::length_word(m_->slot(seq))
                .store(detail::frame_committed | detail::frame_padding | m_->lap_bit(seq),
                       std::memory_order_release);
        }
    }

    template <class Range>
    void write(const Range& records, std::uint64_t first, std::size_t n, std::int64_t created_ns) {
        auto it = std::ranges::begin(records);
        std::uint32_t first_word = 0;
        for (std::size_t i = 0; i < n; ++i, ++it) {
            const std::uint64_t seq = first + i;
            std::byte* frame = m_->slot(seq);
            const std::size_t length = fixed ? codec<T>::fixed_size : codec<T>::encoded_size(*it);
            auto* header = reinterpret_cast<detail::frame_header*>(frame);
            header->checksum = 0;
            std::atomic_ref<std::uint64_t>(header->seq).store(seq, std::memory_order_relaxed);
            header->created = created_ns;
            codec<T>::encode(*it, frame + sizeof(detail::frame_header));
            const std::uint32_t word =
                detail::frame_committed | m_->lap_bit(seq) | static_cast<std::uint32_t>(length);
            if (i == 0) {
                first_word = word;
            } else {
                detail::length_word(frame).store(word, std::memory_order_release);
            }
        }
        detail::length_word(m_->slot(first))
            .store(first_word, std::memory_order_release);  // the batch appears
    }

    // --- lossy rings ---
    //
    // A lossy ring lets producers overwrite records no group has processed,
    // but never a slot a consumer reads: windows are views into the slots,
    // so that would hand a torn record to a callback. Each member of a group
    // has a pin word (ring_header::pins), the lowest sequence number it may
    // read: while it picks a window (the group's position) and, until it
    // commits, the first record of each window it holds; no_pin otherwise.
    // Claiming seq s overwrites the record s - capacity, so a producer may
    // claim [t, t + n) only if t + n <= pin + capacity for every pin.
    //
    // The handshake is Dekker's: each side publishes, then looks at the
    // other, with sequentially consistent accesses, so that of a producer
    // and a consumer acting at once at least one sees the other.
    //   producer (full ring): store its intent `to` = t + n (its
    //     producer_slot, which readers already use to find dead writers),
    //     then load the pins; if one forbids the claim, retract the intent
    //     (`to` = t) and wait (append) or return false (try_append); else
    //     CAS the tail.
    //   consumer: store its pin P, then load every intent's `to` and the
    //     tail; their maximum is how far claims reach or may reach. If it
    //     passes P + capacity, records below reach - capacity are gone or
    //     going: the consumer gives them up (counted in `lost`), pins the
    //     new position and looks again; a window it takes over that is
    //     overwritten is given up whole. Then it reads under its pin.
    // A pin only rises without the check: a member that stops reading below
    // X can let producers in. Producers with room (t + n within every
    // group's `committed` + capacity, which is at most any live pin) skip
    // the handshake. A dead member's pin is ignored by a producer once it
    // has been stuck on it for a while.
    //
    // Producers also wait for each other: once groups may pass records
    // that are not published yet, a producer descheduled between its claim
    // and its write could be lapped, and would then write last lap's record
    // into a slot that holds a window. So seq s is claimed only when its
    // slot holds the published record s - capacity (or no live producer is
    // still writing that slot): no slot ever has two writers, and a record
    // that a consumer found published stays what it is until it is claimed
    // over. The non-lossy path does none of this (there, no claim passes an
    // unpublished record), so it is what it was.
    //
    // What a group lost (in all, not yet told, and told on each window out)
    // sits in a side block of each group block (lossy_block), written and
    // read with it under the group's `current` word: a window handed out
    // again after its member threw or died tells the same lost() again.

    // What a producer's attempt to claim a lossy ring came to.
    enum class lossy_claim { claimed, raced, pinned, busy };

    // Claims [t, t + n) in a lossy ring (t: the tail as last seen, then the
    // claim); false when try_only and it would have to wait.
    bool claim_lossy_space(detail::producer_slot& me, std::uint64_t& t, std::size_t n,
                           std::chrono::nanoseconds wait_limit, bool try_only) {
        std::chrono::steady_clock::time_point give_up{};
        int rounds = 0;
        for (;;) {
            const lossy_claim r = claim_lossy(me, t, n);
            if (r == lossy_claim::claimed)
                return true;
            if (r == lossy_claim::raced)
                continue;
            if (try_only)
                return false;
            wait_to_overwrite(r, t, n, wait_limit, give_up, rounds);
            t = m_->header->tail.load(std::memory_order_acquire);
        }
    }

    lossy_claim claim_lossy(detail::producer_slot& me, std::uint64_t& t, std::size_t n) {
        auto& h = *m_->header;
        me.from.store(t, std::memory_order_relaxed);
        bool full = t + n > local_->low_cache + h.capacity;
        if (full) {
            local_->low_cache = detail::lowest_committed(m_->header->groups);
            full = t + n > local_->low_cache + h.capacity;
        }
        if (full) {
            // A look first: an intent that pins refuse would only make
            // readers wait for it (see pin_at()), again and again while a
            // window is held.
            for (int look = 0; look < 2; ++look) {
                if (look == 1)  // publish how far we will overwrite, then look again
                    me.to.store(t + n, std::memory_order_seq_cst);
                const std::uint64_t pinned = lowest_pinned();
                if (pinned != detail::no_pin && t + n > pinned + h.capacity) {
                    me.to.store(t, std::memory_order_release);  // retract: nothing claimed
                    return lossy_claim::pinned;
                }
            }
        } else {
            me.to.store(t + n, std::memory_order_relaxed);
        }
        if (!laps_done(me, t, n)) {
            me.to.store(t, std::memory_order_release);
            return lossy_claim::busy;
        }
        if (h.tail.compare_exchange_weak(t, t + n, std::memory_order_seq_cst,
                                         std::memory_order_acquire))
            return lossy_claim::claimed;
        return lossy_claim::raced;
    }

    // Whether the slots of [t, t + n) are done with their previous lap: each
    // holds the published record s - capacity, or no other live producer is
    // writing it (its writer died, or it was given up as padding).
    bool laps_done(const detail::producer_slot& me, std::uint64_t t, std::size_t n) {
        const std::uint64_t capacity = m_->header->capacity;
        for (std::uint64_t s = std::max<std::uint64_t>(t, capacity); s < t + n; ++s) {
            const std::byte* frame = m_->slot(s);
            const std::uint32_t word = detail::load_length(frame);
            if (m_->published(s - capacity, word) && !(word & detail::frame_padding) &&
                seq_of(frame) == s - capacity)
                continue;
            if (writing_slot(me, s))
                return false;
        }
        return true;
    }

    // Whether another live producer still writes an earlier lap's record into the slot of `s`.
    bool writing_slot(const detail::producer_slot& me, std::uint64_t s) {
        auto& h = *m_->header;
        const std::uint64_t capacity = h.capacity;
        const std::uint64_t used = std::min<std::uint64_t>(
            h.producers_used.load(std::memory_order_acquire), detail::max_producers);
        for (std::uint64_t i = 0; i < used; ++i) {
            auto& p = h.producers[i];
            if (&p == &me)
                continue;
            const std::uint64_t token = p.token.load(std::memory_order_acquire);
            const std::uint64_t from = p.from.load(std::memory_order_acquire);
            const std::uint64_t to = p.to.load(std::memory_order_acquire);
            if (token == 0 || from >= to || from >= s)
                continue;
            if (to - from < capacity && (s - from) % capacity >= to - from)
                continue;  // its claim misses this slot
            // A writer stuck for long may be dead (a SIGKILL between claim and write).
            const auto now = std::chrono::steady_clock::now();
            if (local_->busy_seq != s) {
                local_->busy_seq = s;
                local_->busy_since = now;
                return true;
            }
            if (now - local_->busy_since < detail::stuck_check_after)
                return true;
            if (detail::process_alive(static_cast<std::uint32_t>(token),
                                      p.start_time.load(std::memory_order_relaxed))) {
                local_->busy_since = now;
                return true;
            }
        }
        return false;
    }

    // The lowest sequence number some live member of a lossy ring may read.
    std::uint64_t lowest_pinned() {
        auto& h = *m_->header;
        std::uint64_t low = detail::no_pin;
        for (std::uint64_t groups = h.pinning_groups.load(std::memory_order_seq_cst); groups != 0;
             groups &= groups - 1) {
            const auto g = static_cast<std::size_t>(std::countr_zero(groups));
            for (std::size_t i = 0; i < detail::shared_max_members; ++i) {
                const std::uint64_t p = h.pins[g].seq[i].load(std::memory_order_seq_cst);
                if (p < low && !ignored_pin(g, i))
                    low = p;
            }
        }
        return low;
    }

    // A pin left by a member found dead (its slot's token unchanged since).
    bool ignored_pin(std::size_t g, std::size_t i) {
        auto& dead = local_->dead_pins;
        for (auto it = dead.begin(); it != dead.end(); ++it) {
            if (it->group != g || it->member != i)
                continue;
            // Read after the pin: a new member's pin comes with its token.
            if (m_->header->groups.groups[g].members[i].token.load(std::memory_order_acquire) ==
                it->token)
                return true;
            dead.erase(it);  // the slot has a new member: its pin counts
            return false;
        }
        return false;
    }

    // Remembers the members whose pins stop a claim of [t, t + n) and whose process is gone.
    void find_dead_pins(std::uint64_t t, std::size_t n) {
        auto& h = *m_->header;
        for (std::uint64_t groups = h.pinning_groups.load(std::memory_order_acquire); groups != 0;
             groups &= groups - 1) {
            const auto g = static_cast<std::size_t>(std::countr_zero(groups));
            for (std::size_t i = 0; i < detail::shared_max_members; ++i) {
                const std::uint64_t p = h.pins[g].seq[i].load(std::memory_order_acquire);
                if (p == detail::no_pin || t + n <= p + h.capacity || ignored_pin(g, i))
                    continue;
                auto& m = h.groups.groups[g].members[i];
                const std::uint64_t token = m.token.load(std::memory_order_acquire);
                if (token == 0 || !detail::member_alive(m, token))
                    local_->dead_pins.push_back({g, i, token});
            }
        }
    }

    // A lossy producer stopped by a pin (a window's callback runs, or a
    // consumer picks: microseconds), or by a producer still writing the
    // previous lap. Spins, then naps until a commit.
    void wait_to_overwrite(lossy_claim why, std::uint64_t t, std::size_t n,
                           std::chrono::nanoseconds wait_limit,
                           std::chrono::steady_clock::time_point& give_up, int& rounds) {
        auto& h = *m_->header;
        const bool limited = wait_limit >= std::chrono::nanoseconds::zero();
        const auto now = std::chrono::steady_clock::now();
        if (give_up == std::chrono::steady_clock::time_point{}) {
            give_up = now + (limited ? wait_limit : std::chrono::hours(24 * 365));
            local_->pinned_since = now;
        }
        if (limited && now >= give_up)
            throw error(errc::full,
                        "lossy shared-memory stream '" + m_->name +
                            "' could not overwrite its oldest records for the whole timeout: a "
                            "consumer held them in a window (or a producer was still writing "
                            "them) all along; return from callbacks sooner, or create the "
                            "stream with a larger capacity");
        if (why == lossy_claim::pinned && now - local_->pinned_since >= detail::stuck_check_after &&
            now - local_->last_pin_check >= detail::stuck_check_after) {
            local_->last_pin_check = now;
            find_dead_pins(t, n);
        }
        if (++rounds < 64) {
            detail::cpu_relax();
            return;
        }
        if (rounds < 128 || why != lossy_claim::pinned) {
            std::this_thread::yield();
            return;
        }
        const std::uint32_t seen = h.space.epoch();
        h.space.enter();
        const std::uint64_t pinned = lowest_pinned();
        if (pinned != detail::no_pin && t + n > pinned + h.capacity)
            h.space.sleep(seen, std::min<std::chrono::nanoseconds>(give_up - now,
                                                                   std::chrono::milliseconds(1)));
        h.space.leave();
    }

    // Pins `seq` (or lower, for the windows we hold) and returns how far
    // claims reach: the tail, or a producer's intent beyond it. What lies
    // below reach - capacity counts as lost, so only for records really
    // overwritten: an intent that passes our pin and the tail is one whose
    // producer has not decided yet (it saw our pin or not: it retracts or
    // claims within a few instructions). We wait for that, up to
    // stuck_check_after (then it might still overwrite, so it counts), and
    // ignore a dead producer's intent (what it claimed, the tail shows).
    std::uint64_t pin_at(std::uint64_t seq) {
        auto& h = *m_->header;
        for (std::uint64_t s : local_->held)
            seq = std::min(seq, s);
        local_->pin->store(seq, std::memory_order_seq_cst);  // publish our pin...
        std::chrono::steady_clock::time_point undecided_since{};
        for (int round = 0;; ++round) {
            std::uint64_t reach = 0;   // ...then look at the claims
            std::uint64_t beyond = 0;  // bit i: intent i passes our pin
            const std::uint64_t used = std::min<std::uint64_t>(
                h.producers_used.load(std::memory_order_seq_cst), detail::max_producers);
            for (std::uint64_t i = 0; i < used; ++i) {
                const std::uint64_t to = h.producers[i].to.load(std::memory_order_seq_cst);
                if (to > seq + h.capacity)
                    beyond |= std::uint64_t{1} << i;
                else
                    reach = std::max(reach, to);
            }
            // Intents first: one that is cleared or replaced was claimed, and
            // the tail read after it shows that claim.
            const std::uint64_t tail = h.tail.load(std::memory_order_seq_cst);
            reach = std::max(reach, tail);
            bool undecided = false;
            for (; beyond != 0; beyond &= beyond - 1) {
                auto& p = h.producers[std::countr_zero(beyond)];
                const std::uint64_t to = p.to.load(std::memory_order_seq_cst);
                if (to <= tail || to <= seq + h.capacity)
                    continue;  // claimed (the tail covers it), or retracted
                if (!detail::process_alive(
                        static_cast<std::uint32_t>(p.token.load(std::memory_order_acquire)),
                        p.start_time.load(std::memory_order_relaxed)))
                    continue;
                const auto now = std::chrono::steady_clock::now();
                if (undecided_since == std::chrono::steady_clock::time_point{})
                    undecided_since = now;
                if (now - undecided_since < detail::stuck_check_after)
                    undecided = true;
                else
                    reach = std::max(reach, to);
            }
            if (!undecided)
                return reach;
            if (round < 64)
                detail::cpu_relax();
            else
                std::this_thread::yield();
        }
    }

    // Pins the group's position, moving it past records that producers
    // have overwritten or are overwriting. Returns whether it moved.
    bool pin_from(detail::group_block& b, detail::lossy_block& x) {
        const std::uint64_t capacity = m_->header->capacity;
        bool moved = false;
        for (;;) {
            const std::uint64_t reach = pin_at(b.next);
            if (reach <= b.next + capacity)
                return moved;
            const std::uint64_t oldest = reach - capacity;  // the oldest record that stays
            x.lost += oldest - b.next;
            x.lost_pending += oldest - b.next;
            b.next = oldest;
            moved = true;
        }
    }

    // Gives up handed-out window `i`, overwritten while nobody held it.
    static void forget_window(detail::group_block& b, detail::lossy_block& x,
                              std::size_t i) noexcept {
        x.lost += b.handed_out[i].count;
        x.lost_pending += x.lost_before[i] + b.handed_out[i].count;
        b.handed_out[i] = b.handed_out[b.out - 1];
        x.lost_before[i] = x.lost_before[b.out - 1];
        --b.out;
    }

    // Our pin covers the windows we hold, nothing else (a pin that rises needs no check).
    void settle_pin() noexcept {
        if (local_->pin == nullptr)
            return;
        std::uint64_t low = detail::no_pin;
        for (std::uint64_t s : local_->held)
            low = std::min(low, s);
        local_->pin->store(low, std::memory_order_release);
    }

    // commit() and abandon() of lossy rings (out of line: see claim_from).
    [[gnu::noinline]] void finish_lossy(const group_handle& me, std::uint64_t ticket,
                                        bool committed) {
        detail::lossy_finish_window(*m_->header, me, ticket, committed);
        let_go(ticket);
        if (!committed)
            m_->header->space.wake();  // our pin is gone: a producer may go on
    }

    void let_go(std::uint64_t ticket) noexcept {
        auto& held = local_->held;
        if (auto it = std::find(held.begin(), held.end(), ticket); it != held.end())
            held.erase(it);
        settle_pin();
    }

    // Leaves claim() with the pin settled, whether a window, nothing or an exception comes out.
    struct pin_guard {
        shm_ring& self;
        ~pin_guard() {
            if (self.local_->pin != nullptr) {
                self.settle_pin();
                self.m_->header->space.wake();  // a producer may wait for our reading pin
            }
        }
    };
    struct no_guard {
        explicit no_guard(shm_ring&) noexcept {}
    };

    // --- consuming ---

    // claim() for lossy rings (Lossy) or not: one source, so that the
    // non-lossy instance is free of the lossy bookkeeping. Inlined as claim()
    // was before it had two instances (GCC 12 stops inlining it otherwise:
    // about 20 ns more per window), the lossy one behind a call.
    template <class Pick>
    [[gnu::noinline]] claim_type claim_lossy_window(const group_handle& me,
                                                    const detail::lazy_now& now,
                                                    detail::claim_buffers& buffers, Pick& pick) {
        return claim_from<true>(me, now, buffers, pick);
    }
    template <bool Lossy, class Pick>
    [[gnu::always_inline]] inline claim_type claim_from(const group_handle& me,
                                                        const detail::lazy_now& now,
                                                        detail::claim_buffers& buffers,
                                                        Pick& pick) {
        // Lossy rings keep two blocks per state (see lossy_snapshot()) and
        // no cache; the others work in the member's cache.
        [[maybe_unused]] detail::group_block lossy_b;
        [[maybe_unused]] detail::lossy_block x;
        detail::group_block& b = Lossy ? lossy_b : local_->block.block;
        // Lossy: whatever we pinned to read goes when we leave without a window.
        std::conditional_t<Lossy, pin_guard, no_guard> guard{*this};
        auto snapshot = [&] {
            if constexpr (Lossy)
                return detail::lossy_snapshot(*m_->header, *me.group, b, x);
            else
                return local_->block.take(*me.group);
        };
        auto propose = [&](std::uint64_t seen) {
            if constexpr (Lossy)
                return detail::lossy_propose(*m_->header, me, seen, b, x);
            else
                return local_->block.propose(me, seen);
        };
        // Non-lossy: `b` is unedited since the snapshot `seen`, still the cached state.
        auto keep_snapshot = [&](std::uint64_t seen) {
            if constexpr (!Lossy)
                local_->block.keep(seen);
        };
        if constexpr (!Lossy) {
            if (still_idle(me, now)) {
                claim_type c;
                c.deadline_ns = local_->idle.deadline_ns;
                return c;
            }
        }
        local_->idle.valid = false;
        for (;;) {
            const std::uint64_t seen = snapshot();
            local_->others_out =
                std::any_of(b.handed_out, b.handed_out + b.out,
                            [&](const detail::shared_window& w) { return w.owner != me.token; });
            if (const auto taken = detail::window_to_take_over(me, b, local_->last_dead_check);
                taken != b.out) {
                auto& w = b.handed_out[taken];
                std::uint64_t lost = 0;
                if constexpr (Lossy) {
                    if (pin_at(w.first_seq) > w.first_seq + m_->header->capacity) {
                        // Nobody held it (its member threw or died) and producers
                        // have overwritten it: its records are lost.
                        forget_window(b, x, taken);
                        (void)propose(seen);
                        continue;
                    }
                    lost = x.lost_before[taken];
                }
                w.owner = me.token;
                if (!propose(seen))
                    continue;
                if constexpr (Lossy)
                    local_->held.push_back(w.first_seq);  // pinned until commit (pin_guard)
                return hand_out(w, lost, buffers);
            }
            if (b.out == detail::shared_max_windows) {
                keep_snapshot(seen);
                return {};  // too many windows out: wait for commits
            }
            bool changed = false;
            if constexpr (Lossy)
                changed = pin_from(b, x);  // pin where we read, past what producers overwrote
            const std::uint64_t end = scan(b.next, me.group->committed);
            // Slots given up as padding are no records: step over them.
            while (b.next < end &&
                   (detail::load_length(m_->slot(b.next)) & detail::frame_padding)) {
                ++b.next;
                changed = true;
            }
            for (;;) {
                const std::size_t pending = spans(b.next, end, ~std::uint64_t{0}, buffers.pending);
                const omstream::window<T> view(buffers.pending, pending, now(), b.next);
                auto state = b.state;
                detail::picked p;
                try {
                    p = pick(view, std::span<std::byte, 64>(state));
                } catch (...) {
                    // From a stale snapshot the emitter may have read slots that
                    // producers are reusing: look again rather than fail.
                    if (me.group->current.load(std::memory_order_acquire) == seen)
                        throw;
                    break;
                }
                if (p.what == action::wait) {
                    detail::check_fillable(p, pending, m_->header->capacity, m_->name);
                    if (changed) {
                        propose(seen);  // keep the drops; a retry would redo them
                    } else if constexpr (!Lossy) {
                        keep_snapshot(seen);
                        watch(seen, end, p);
                    }
                    return {};
                }
                detail::check_picked(p, pending, [&] { return state != b.state; });
                const std::uint64_t first = b.next;
                const std::uint64_t after = p.count == pending ? end
                                            : p.count == 0     ? first
                                                               : seq_at(view, p.count - 1) + 1;
                b.state = state;
                b.next = after;
                if (p.what == action::drop) {
                    b.late += p.count;
                    changed = true;
                    continue;
                }
                std::uint64_t lost = 0;
                if constexpr (Lossy) {  // told on this window, and kept with it
                    lost = x.lost_pending;
                    x.lost_before[b.out] = lost;
                    x.lost_pending = 0;
                }
                auto& w = b.handed_out[b.out++];
                w = {first, p.count, now(), me.token};
                if (!propose(seen))
                    break;  // someone moved first: look again
                if constexpr (Lossy)
                    local_->held.push_back(w.first_seq);  // pinned until commit (pin_guard)
                return hand_out_pending(w, lost, buffers);
            }
        }
    }

    // How far records are published from `from` on, giving up slots whose
    // writer died (S3 issue: bounded stall after a producer's SIGKILL).
    // A slot's sequence number, read while a writer of the next lap may be
    // storing it (hence atomically).
    static std::uint64_t seq_of(const std::byte* frame) noexcept {
        auto* header = const_cast<detail::frame_header*>(&detail::header_of(frame));
        return std::atomic_ref<std::uint64_t>(header->seq).load(std::memory_order_relaxed);
    }

    // Reads the tail only when it meets a slot that is not published, so a
    // busy consumer does not pull the producers' tail line to its core.
    // `committed` is the consumer's group watermark: a slot below it was
    // processed, so our snapshot is stale and the slot may hold a newer lap.
    std::uint64_t scan(std::uint64_t from, const std::atomic<std::uint64_t>& committed) {
        auto& h = *m_->header;
        std::uint64_t s = std::max(local_->scanned, from);
        const std::uint64_t lap_end = s + h.capacity;
        for (;;) {
            const std::byte* frame = m_->slot(s);
            const std::uint32_t word = detail::load_length(frame);
            local_->end_word = word;
            // Past the tail a slot may still hold the frame of two laps ago
            // (same lap parity): a record's sequence number tells them apart;
            // padding (rare) is trusted below the tail only.
            if (s < lap_end && m_->published(s, word)) {
                const bool mine = (word & detail::frame_padding)
                                      ? s < h.tail.load(std::memory_order_acquire)
                                      : seq_of(frame) == s;
                if (mine) {
                    ++s;
                    continue;
                }
            }
            // Not published: the tail and the producers' claims only once
            // it has stayed so for a while (detail::stuck_watch).
            if (!local_->stuck.long_enough(s) || s >= h.tail.load(std::memory_order_acquire) ||
                !writer_gone(s))
                break;
            // Give the slot up only if it still is not published and our group
            // has not processed it (checked last: a slot is reused only after
            // every group passed it, and nobody alive can publish it now).
            std::uint32_t expected = detail::load_length(frame);
            if (m_->published(s, expected))
                continue;
            // A batch is published by its first slot, written last: the rest
            // of the dead writer's claim may be published already. It goes
            // too, before the first slot that holds readers back (append of
            // a range: consumers see all of it or none).
            const std::uint64_t end = dead_claim_end(s);
            bool stale = false;
            for (std::uint64_t k = s + 1; k < end && !stale; ++k) {
                const std::uint32_t was = detail::load_length(m_->slot(k));
                if (m_->published(k, was) && (was & detail::frame_padding))
                    continue;
                stale = committed.load(std::memory_order_acquire) > s;
                if (!stale)
                    give_up_slot(k, was);
            }
            if (stale || committed.load(std::memory_order_acquire) > s)
                break;  // a stale snapshot: the claim looks again
            give_up_slot(s, expected);
        }
        local_->scanned = s;
        return s;
    }

    // Turns slot `seq` into padding if it still holds `expected` (read before
    // our group's `committed` was seen below it: no later lap has it yet).
    // Counted first: a reader that sees the padding sees it counted, which
    // spans() relies on.
    void give_up_slot(std::uint64_t seq, std::uint32_t expected) noexcept {
        auto& h = *m_->header;
        const std::uint32_t padding =
            detail::frame_committed | detail::frame_padding | m_->lap_bit(seq);
        h.skipped.fetch_add(1, std::memory_order_relaxed);
        if (!detail::length_word(m_->slot(seq))
                 .compare_exchange_strong(expected, padding, std::memory_order_acq_rel))
            h.skipped.fetch_sub(1, std::memory_order_relaxed);  // someone else gave it up
    }

    // The end of the dead writer's claim that starts at `seq`, the first slot
    // of a claim (a batch publishes its first slot last): as its intent says
    // it. Only seq + 1 when no intent is left (a new producer took the slot
    // over). Should two dead intents start there (one of a producer killed
    // after its compare-and-swap lost), the shorter: the longer may reach
    // over records of live producers.
    std::uint64_t dead_claim_end(std::uint64_t seq) {
        auto& h = *m_->header;
        std::uint64_t end = ~std::uint64_t{0};
        for (auto& p : h.producers) {
            if (p.token.load(std::memory_order_acquire) == 0 ||
                p.from.load(std::memory_order_acquire) != seq)
                continue;
            const std::uint64_t to = p.to.load(std::memory_order_acquire);
            if (to > seq)
                end = std::min(end, to);
        }
        const std::uint64_t tail = h.tail.load(std::memory_order_acquire);
        return end == ~std::uint64_t{0} ? seq + 1 : std::min({end, tail, seq + h.capacity});
    }

    // After a wait: the slot to watch is that of the record that can change
    // the emitter's answer (decision::more past the first unpublished one),
    // not the next one, where producers are writing. Its word then is the
    // previous lap's (more is capped at the capacity), so the record's
    // publication changes it.
    void watch(std::uint64_t current, std::uint64_t end, const detail::picked& p) noexcept {
        const std::uint64_t at = end + std::min<std::uint64_t>(p.more, m_->header->capacity) - 1;
        const std::uint32_t word = at == end ? local_->end_word : detail::load_length(m_->slot(at));
        if (at != end && m_->published(at, word))
            return;  // published since the scan: the next poll looks
        local_->idle = {true, current, at, word, p.deadline_ns, 0, at == end ? 8u : 64u};
    }

    // Whether the emitter's last `wait` still holds, without a look at the
    // group or the ring beyond two words: the group state did not move, the
    // slot we watch is as it was, the emitter's deadline has not come, and
    // no other member's window is out (those need checks for dead members).
    // Every 8th poll takes the full path anyway, which looks after a dead
    // producer's claim; every 64th while we watch a slot ahead, because the
    // full path reads the slot producers are writing. (Records behind a dead
    // producer's slot then wait for 32 full paths, about 64 ms in apply(),
    // unless the watched record arrives first.)
    // It also asks for the rest of the watched slot (prefetch_frame_rest),
    // for fixed-size records: a variable record's slot is as large as the
    // largest record, and the record may use one line of it.
    bool still_idle(const group_handle& me, const detail::lazy_now& now) noexcept {
        auto& idle = local_->idle;
        if (!idle.valid || ++idle.polls % idle.full_every == 0 || local_->others_out)
            return false;
        const std::byte* frame = m_->slot(idle.end);
        if (detail::load_length(frame) != idle.end_word)
            return false;
        if constexpr (fixed)
            detail::prefetch_frame_rest(frame, m_->slot_size);
        return me.group->current.load(std::memory_order_acquire) == idle.current &&
               !now.passed(idle.deadline_ns);
    }

    // Whether slot `seq` (below the tail) was claimed by a producer that is
    // gone: no live producer's claim covers it (the real claimer's always
    // does while it lives, and the tail was read before the claims).
    bool writer_gone(std::uint64_t seq) {
        for (auto& p : m_->header->producers) {
            const std::uint64_t token = p.token.load(std::memory_order_acquire);
            if (token == 0)
                continue;
            const std::uint64_t from = p.from.load(std::memory_order_acquire);
            const std::uint64_t to = p.to.load(std::memory_order_acquire);
            if (seq < from || seq >= to)
                continue;
            if (detail::process_alive(static_cast<std::uint32_t>(token),
                                      p.start_time.load(std::memory_order_relaxed)))
                return false;
        }
        return true;
    }

    claim_type hand_out(const detail::shared_window& w, std::uint64_t lost,
                        detail::claim_buffers& buffers) {
        const std::size_t n = spans(w.first_seq, ~std::uint64_t{0} >> 1, w.count, buffers.window);
        return {true, omstream::window<T>(buffers.window, n, w.created_ns, w.first_seq, lost),
                w.first_seq};
    }

    // hand_out() for a window of the first w.count pending records: their
    // spans are already in buffers.pending; cut them there, do not walk the ring again.
    claim_type hand_out_pending(const detail::shared_window& w, std::uint64_t lost,
                                detail::claim_buffers& buffers) {
        auto& spans = buffers.pending;
        std::size_t kept = 0;
        while (kept < spans.size() && spans[kept].first_index + spans[kept].count < w.count)
            ++kept;
        if (kept < spans.size()) {
            auto& last = spans[kept];
            last.count = w.count - last.first_index;
            last.last = last.first + last.count * last.stride;
            spans.resize(last.count == 0 ? kept : kept + 1);
        }
        std::swap(buffers.pending, buffers.window);
        return {true, omstream::window<T>(buffers.window, w.count, w.created_ns, w.first_seq, lost),
                w.first_seq};
    }

    static std::uint64_t seq_at(const omstream::window<T>& view, std::size_t index) {
        auto it = view.entries().begin();
        std::ranges::advance(it, static_cast<std::ptrdiff_t>(index));
        return (*it).seq();
    }

    // Spans over at most `limit` records from `from`, below `end`: split where
    // the ring wraps and around padding slots.
    std::size_t spans(std::uint64_t from, std::uint64_t end, std::uint64_t limit,
                      std::vector<detail::frame_span>& out) const {
        out.clear();
        auto& h = *m_->header;
        const std::size_t stride = h.slot_size;
        const bool no_padding = h.skipped.load(std::memory_order_acquire) == 0;
        std::size_t total = 0;
        std::uint64_t s = from;
        while (s < end && total < limit) {
            const std::uint64_t to_wrap = h.capacity - (s & (h.capacity - 1));
            std::uint64_t run = std::min({to_wrap, end - s, limit - total});
            if (!no_padding) {
                if (detail::load_length(m_->slot(s)) & detail::frame_padding) {
                    ++s;
                    continue;
                }
                std::uint64_t k = 1;
                while (k < run && !(detail::load_length(m_->slot(s + k)) & detail::frame_padding))
                    ++k;
                run = k;
            }
            const std::byte* first = m_->slot(s);
            out.push_back(
                {first, first + run * stride, static_cast<std::size_t>(run), total, stride});
            total += run;
            s += run;
        }
        return total;
    }

    std::shared_ptr<detail::ring_mapping> m_;
    std::shared_ptr<local_state> local_;
};

}  // namespace omstream
