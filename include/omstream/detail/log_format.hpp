// The on-disk layout of a mapped_log (DESIGN.md §3). A log is a directory:
//   header               the log header, mapped by every process that uses it
//   <16 digits>.seg      segment k: a segment header, then `segment_data`
//                        bytes of frames (detail/frame.hpp)
// Frames are addressed by a global byte position: position p lives in
// segment p / segment_data at offset p % segment_data. A frame never
// crosses a segment; the rest of a segment is a padding frame.
#pragma once

#include <omstream/detail/crc32c.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/shared_groups.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace omstream::detail {

inline constexpr std::array<char, 8> log_magic{'O', 'M', 'S', 'T', 'R', 'L', 'O', 'G'};
inline constexpr std::array<char, 8> segment_magic{'O', 'M', 'S', 'T', 'R', 'S', 'E', 'G'};
// 3: the sole-producer word beside the tail (detail/sole_producer.hpp).
inline constexpr std::uint32_t log_format_version = 3;
inline constexpr std::size_t log_max_producers = 64;
inline constexpr std::size_t segment_index_entries = 512;
inline constexpr std::size_t segment_header_bytes = 16384;
inline constexpr std::size_t min_segment_data = std::size_t{1} << 16;
inline constexpr std::size_t max_segment_data = std::size_t{1} << 28;  // the padding length limit
inline constexpr std::size_t default_segment_data = std::size_t{1} << 26;
// A padding frame of at least this size carries the sequence number of the
// record after it in its header (a shorter one only ends a segment).
inline constexpr std::size_t padding_with_seq = sizeof(frame_header);

// The next sequence number and byte position to claim. Both move together
// with one 16-byte compare-and-swap, so that many producers in many
// processes claim without a lock.
struct alignas(16) log_position {
    std::uint64_t seq;
    std::uint64_t pos;
    friend bool operator==(const log_position&, const log_position&) = default;
};

// `lock cmpxchg16b` written out: GCC inlines a 16-byte __sync builtin under
// a target("cx16") attribute, but Clang then calls libatomic, whose fallback
// takes a process-local lock (useless between processes).
inline bool compare_exchange(log_position& target, log_position& expected,
                             log_position desired) noexcept {
#if defined(__x86_64__)
    bool done;
    __asm__ __volatile__("lock cmpxchg16b %1"
                         : "=@ccz"(done), "+m"(target), "+a"(expected.seq), "+d"(expected.pos)
                         : "b"(desired.seq), "c"(desired.pos)
                         : "memory");
    return done;
#else
    __extension__ using uint128 = unsigned __int128;
    uint128 e, d;
    std::memcpy(&e, &expected, 16);
    std::memcpy(&d, &desired, 16);
    uint128 old = e;
    const bool done = __atomic_compare_exchange_n(reinterpret_cast<uint128*>(&target), &old, d,
                                                  false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    std::memcpy(&expected, &old, 16);
    return done;
#endif
}

// Every claim moves `seq` up, so two equal reads of it around a read of
// `pos` saw one state.
inline log_position load_position(const log_position& p) noexcept {
    auto& self = const_cast<log_position&>(p);
    for (;;) {
        const std::uint64_t seq = std::atomic_ref(self.seq).load(std::memory_order_acquire);
        const std::uint64_t pos = std::atomic_ref(self.pos).load(std::memory_order_acquire);
        if (std::atomic_ref(self.seq).load(std::memory_order_acquire) == seq)
            return {seq, pos};
    }
}

// Whether store_position() is one atomic store here: an aligned 16-byte
// SSE store is, on every x86 CPU with AVX (Intel's and AMD's manuals say
// so). Where it is not, every producer claims with compare_exchange().
inline bool atomic_position_store() noexcept {
#if defined(__x86_64__)
    static const bool avx = __builtin_cpu_supports("avx");
    return avx;
#else
    return false;
#endif
}

// Sets `target` in one store, for the one producer that claims plainly
// (sole_producer) where atomic_position_store(). Readers need nothing more
// than load_position(): a reader that saw the new `pos` sees the new `seq`.
inline void store_position(log_position& target, log_position desired) noexcept {
#if defined(__x86_64__)
    // The vector is put together from two registers: built by the compiler
    // (_mm_set_epi64x), it is often one 16-byte load of `desired` just
    // stored as two 8-byte halves, which cannot be forwarded from the
    // store buffer and stalls every append until they reach the cache.
    __m128i value, high;
    __asm__ __volatile__(
        "movq %[seq], %[value]\n\t"
        "movq %[pos], %[high]\n\t"
        "punpcklqdq %[high], %[value]\n\t"
        "movdqa %[value], %[target]"
        : [target] "=m"(target), [value] "=&x"(value), [high] "=&x"(high)
        : [seq] "r"(desired.seq), [pos] "r"(desired.pos)
        : "memory");
#else
    log_position seen = load_position(target);  // not reached: atomic_position_store() is false
    while (!compare_exchange(target, seen, desired)) {
    }
#endif
}

// A producer's claim in flight, written before the claim so that a reader
// stuck on it can tell whether its writer lives and how far it reaches.
struct log_intent {
    std::atomic<std::uint64_t> token;  // 0: free; else pid
    std::atomic<std::uint64_t> start_time;
    std::atomic<std::uint64_t> seq_from, pos_from, seq_to, pos_to;  // pos_from == pos_to: none
    std::atomic<std::uint64_t> confirmed;  // pos_from + 1 once the claim is known to be made
};

struct log_header {
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::atomic<std::uint32_t> ready;  // 1 once set up
    std::uint32_t creator_pid;
    std::int64_t created_ns;
    std::uint64_t segment_data;  // bytes of frames per segment, a power of two
    std::uint64_t capacity;      // records held unprocessed at most; 0: unbounded
    std::uint32_t max_payload;
    std::uint32_t file_mode;
    std::uint64_t fingerprint;
    // Retention, fixed at creation.
    std::uint32_t keep;
    std::uint32_t pid_namespace;  // its users' (check_pid_namespace); 0: unknown
    std::int64_t max_age_ns;      // 0: none
    std::uint64_t max_bytes;      // 0: none
    char record_type[256];
    char layout[1024];

    // What the last recovery cut off (S14: reported, never delivered).
    std::uint64_t recoveries;
    std::uint64_t cut_bytes;
    char recovery_note[512];

    // Checkpoint: every frame below was checked and synced to disk.
    alignas(64) log_position checkpoint;
    // Byte positions whose frames the last recovery checked (CRC included):
    // readers skip the CRC there while the log stays open.
    std::uint64_t verified_from;
    std::uint64_t verified_to;
    alignas(64) log_position tail;
    std::atomic<std::uint64_t> sole;                        // who claims plainly (sole_producer)
    alignas(64) std::atomic<std::uint64_t> oldest_segment;  // lowest segment file that exists
    std::atomic<std::uint64_t> skipped;                     // records given up (dead writers)
    std::atomic<std::uint64_t> deleted;                     // records deleted by retention
    wait_word consumers;
    wait_word space;
    alignas(64) log_intent producers[log_max_producers];
    alignas(64) group_table groups;
};

inline constexpr std::size_t log_header_bytes = (sizeof(log_header) + 4095) & ~std::size_t{4095};

// The sparse index of a segment: entry 0 is its first frame; entry j the
// first frame that starts at or after j * (segment_data / entries). Writers
// fill it as they go; readers check an entry against the frame it names.
struct segment_index_entry {
    std::uint64_t seq_plus_one;  // 0: not written
    std::uint64_t pos;           // global byte position
    std::int64_t created;
};

struct segment_header {
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::uint64_t index;         // k
    std::uint64_t segment_data;  // bytes of frames
    std::uint64_t reserved[4];
    segment_index_entry entries[segment_index_entries];
};
static_assert(sizeof(segment_header) <= segment_header_bytes);

inline std::string segment_file_name(std::uint64_t k) {
    std::string digits = std::to_string(k);
    return std::string(16 - std::min<std::size_t>(16, digits.size()), '0') + digits + ".seg";
}

// --- frame checks: what recovery and readers trust ---------------------------

// Covers the sequence number, the created time and the payload (contiguous
// in the frame) in one pass, seeded with the length.
inline std::uint32_t frame_checksum(const frame_header& h, std::uint32_t length) noexcept {
    static_assert(offsetof(frame_header, created) == offsetof(frame_header, seq) + 8 &&
                  sizeof(frame_header) == offsetof(frame_header, created) + 8);
    return crc32c(length, &h.seq, 16 + std::size_t{length});
}

inline std::uint32_t padding_checksum(std::uint64_t next_seq, std::uint32_t bytes) noexcept {
    return crc32c(crc32c(0x5eed, &next_seq, sizeof next_seq), &bytes, sizeof bytes);
}

enum class frame_check { record, padding, unwritten, bad };

// What the frame at `offset` of a segment's data is, checked against the
// sequence number it must carry. Never reads outside [data, data + size).
// `next_seq` and `next_offset` say where the frame after it starts.
struct checked_frame {
    frame_check kind = frame_check::bad;
    std::uint64_t next_seq = 0;
    std::size_t next_offset = 0;
    const char* why = "";
};

// What a valid record frame of a log looks like.
struct frame_rules {
    std::size_t max_payload = 0;
    bool exact_size = false;  // fixed-size records: every payload is max_payload bytes
    bool check_crc = true;    // false where the frame was checked before (by recovery)
};

inline checked_frame check_frame(const std::byte* data, std::size_t size, std::size_t offset,
                                 std::uint64_t seq, const frame_rules& rules) noexcept {
    const std::size_t payload_limit = rules.max_payload;
    checked_frame out;
    if (offset % frame_alignment != 0 || offset + sizeof(std::uint32_t) > size) {
        out.why = "a frame position outside its segment";
        return out;
    }
    const std::uint32_t word = load_length(data + offset);
    if (word == 0) {
        out.kind = frame_check::unwritten;
        return out;
    }
    if (!(word & frame_committed) || (word & frame_lap)) {
        out.why = "a length word that is not a commit";
        return out;
    }
    const std::uint32_t length = word & frame_length_mask;
    if (word & frame_padding) {
        if (length < frame_alignment || length % frame_alignment != 0 || offset + length > size) {
            out.why = "a padding frame of impossible length";
            return out;
        }
        out.next_seq = seq;
        if (length >= padding_with_seq) {
            const auto& h = header_of(data + offset);
            if (h.checksum != padding_checksum(h.seq, length) || h.seq < seq) {
                out.why = "a padding frame that fails its checksum";
                return out;
            }
            out.next_seq = h.seq;
        } else if (offset + length != size) {
            out.why = "a short padding frame before the end of its segment";
            return out;
        }
        out.kind = frame_check::padding;
        out.next_offset = offset + length;
        return out;
    }
    if (length > payload_limit || offset + frame_size(length) > size) {
        out.why = "a record longer than its segment or the log's max_record_size";
        return out;
    }
    if (rules.exact_size && length != payload_limit) {
        out.why = "a record of another size than its fixed-size type";
        return out;
    }
    const auto& h = header_of(data + offset);
    if (h.seq != seq) {
        out.why = "a record with the wrong sequence number";
        return out;
    }
    if (rules.check_crc && h.checksum != frame_checksum(h, length)) {
        out.why = "a record that fails its CRC-32C";
        return out;
    }
    out.kind = frame_check::record;
    out.next_seq = seq + 1;
    out.next_offset = offset + frame_size(length);
    return out;
}

inline checked_frame check_frame(const std::byte* data, std::size_t size, std::size_t offset,
                                 std::uint64_t seq, std::size_t payload_limit,
                                 bool check_crc = true) noexcept {
    return check_frame(data, size, offset, seq, frame_rules{payload_limit, false, check_crc});
}

// Recovery of one segment's data: the valid frames from `offset` on, up to
// the first frame that is unwritten or fails its checks. What the fuzzer
// drives with arbitrary bytes.
struct segment_scan {
    std::size_t end = 0;    // offset of the first frame not valid (or `size`)
    std::uint64_t seq = 0;  // sequence number expected there
    std::uint64_t records = 0;
    bool complete = false;  // the segment is valid to its end (the log goes on in the next)
    const char* why = "";   // what stopped the scan, when not complete
};

inline segment_scan scan_segment(const std::byte* data, std::size_t size, std::size_t offset,
                                 std::uint64_t seq, const frame_rules& rules) noexcept {
    segment_scan out{offset, seq, 0, false, ""};
    while (out.end < size) {
        const checked_frame f = check_frame(data, size, out.end, out.seq, rules);
        if (f.kind == frame_check::unwritten) {
            out.why = "";
            return out;
        }
        if (f.kind == frame_check::bad) {
            out.why = f.why;
            return out;
        }
        out.records += f.kind == frame_check::record;
        out.seq = f.next_seq;
        out.end = f.next_offset;
    }
    out.complete = true;
    return out;
}

inline segment_scan scan_segment(const std::byte* data, std::size_t size, std::size_t offset,
                                 std::uint64_t seq, std::size_t payload_limit) noexcept {
    return scan_segment(data, size, offset, seq, frame_rules{payload_limit});
}

}  // namespace omstream::detail
