// The layout of a shm_ring segment (DESIGN.md §3): a header, then
// `capacity` slots of `slot_size` bytes, each holding one frame. The bytes
// outlive the processes that wrote them, so the header starts with a magic
// number and a format version, and names the record type (S3).
#pragma once

#include <omstream/detail/futex.hpp>
#include <omstream/detail/shared_groups.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>

namespace omstream::detail {

inline constexpr std::array<char, 8> ring_magic{'O', 'M', 'S', 'T', 'R', 'I', 'N', 'G'};
// 2: the lossy flag, the pins and lost counts of lossy rings. 4: the
// sole-producer word beside the tail (detail/sole_producer.hpp).
inline constexpr std::uint32_t ring_format_version = 4;
inline constexpr std::size_t max_producers = 64;

inline constexpr std::uint64_t ring_lossy = 1;              // ring_header::flags
inline constexpr std::uint64_t no_pin = ~std::uint64_t{0};  // a member that reads nothing

// A producer's claim in flight: [from, to) is being written by the process
// named by `token` (pid) and `start_time`. Written before the claim is
// made, cleared after it is published, so a reader stuck on a slot can tell
// whether its writer is still alive.
struct producer_slot {
    std::atomic<std::uint64_t> token;  // 0: free; else pid
    std::atomic<std::uint64_t> start_time;
    std::atomic<std::uint64_t> from;
    std::atomic<std::uint64_t> to;
};

// Lossy rings only: what each member of one group is reading. A member pins
// the lowest sequence number it may read (while it picks a window, and the
// first record of a window it has been handed until it commits); producers of
// a lossy ring overwrite unprocessed records but never a pinned slot. One
// writer per word (its member), so no word ever needs a read-modify-write.
struct alignas(64) member_pins {
    std::atomic<std::uint64_t> seq[shared_max_members];  // no_pin, or the lowest pinned seq
};

// Lossy rings only: what a group's state adds when records can be
// overwritten before the group gets them. One beside each group_block of the
// group table (same block id), written before and read with the block under
// the group's `current` word, so the two change together; outside
// group_block so that rings that never lose pay nothing for it.
struct lossy_block {
    std::uint64_t lost;          // records the group never got
    std::uint64_t lost_pending;  // of those, the ones just before `next` not yet told on a window
    std::uint64_t lost_before[shared_max_windows];  // told on each entry of `handed_out`
};
static_assert(std::is_trivially_copyable_v<lossy_block> && sizeof(lossy_block) % 8 == 0);

struct lossy_group {
    lossy_block initial;
    lossy_block members[shared_max_members][2];
};

struct ring_header {
    // The first 32 bytes keep their place in every format version.
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::atomic<std::uint64_t> init_owner;  // who sets the segment up: PID namespace << 32 | pid
    std::atomic<std::uint32_t> ready;       // 1 once set up
    std::uint32_t reserved;

    std::uint32_t creator_pid;
    std::uint32_t max_payload;  // bytes of the largest record (max_record_size)
    std::int64_t created_ns;
    std::uint64_t capacity;   // slots, a power of two
    std::uint64_t slot_size;  // bytes
    std::uint64_t fingerprint;
    std::uint64_t flags;  // ring_lossy: fixed by the creator
    char record_type[256];
    char layout[1024];

    alignas(64) std::atomic<std::uint64_t> tail;     // next sequence number to claim
    std::atomic<std::uint64_t> sole;                 // who claims plainly (sole_producer)
    alignas(64) std::atomic<std::uint64_t> skipped;  // slots given up as padding (dead writers)
    wait_word consumers;
    wait_word space;
    alignas(64) producer_slot producers[max_producers];
    alignas(64) group_table groups;
    // Lossy rings: bit g is set once a member of group slot g has pinned
    // (producers look at those groups' pins only), and how many producer
    // slots were ever taken (consumers look at those intents only).
    alignas(64) std::atomic<std::uint64_t> pinning_groups;
    std::atomic<std::uint64_t> producers_used;
    member_pins pins[shared_max_groups];
    lossy_group lossy_groups[shared_max_groups];
};

inline constexpr std::size_t ring_header_bytes = (sizeof(ring_header) + 4095) & ~std::size_t{4095};

}  // namespace omstream::detail
