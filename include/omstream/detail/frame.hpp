// The frame: how one record sits in storage, shared by every storage. A
// 24-byte header then the payload, padded to 8 bytes. Writers fill the frame
// and store the length word last, with release ordering: the length word is
// the commit flag, so a reader that sees it set also sees the whole record.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace omstream::detail {

struct frame_header {
    std::uint32_t length;    // commit word: see the flags below; 0 = not yet written
    std::uint32_t checksum;  // CRC-32C of the payload where the storage checks it, else 0
    std::uint64_t seq;       // S4: dense per stream
    std::int64_t created;    // S4: nanoseconds since the clock's epoch
};
static_assert(sizeof(frame_header) == 24);

inline constexpr std::uint32_t frame_committed = 0x8000'0000u;
// A committed frame that holds no record: skipped by readers (the rest of a
// chunk, or the slot of a writer that died before committing).
inline constexpr std::uint32_t frame_padding = 0x4000'0000u;
// Rings reuse slots: the commit word carries the parity of the lap it was
// written in, so a reader never takes the previous lap's record for this one.
inline constexpr std::uint32_t frame_lap = 0x2000'0000u;
inline constexpr std::uint32_t frame_length_mask = 0x1fff'ffffu;
inline constexpr std::size_t frame_alignment = 8;
inline constexpr std::size_t max_payload = frame_length_mask;

constexpr std::size_t frame_size(std::size_t payload) noexcept {
    return sizeof(frame_header) + ((payload + frame_alignment - 1) & ~(frame_alignment - 1));
}

inline std::atomic_ref<std::uint32_t> length_word(std::byte* frame) noexcept {
    return std::atomic_ref<std::uint32_t>(reinterpret_cast<frame_header*>(frame)->length);
}

inline std::uint32_t load_length(const std::byte* frame) noexcept {
    return length_word(const_cast<std::byte*>(frame)).load(std::memory_order_acquire);
}

inline void publish(std::byte* frame, std::uint32_t payload_length) noexcept {
    length_word(frame).store(frame_committed | payload_length, std::memory_order_release);
}

inline const frame_header& header_of(const std::byte* frame) noexcept {
    return *reinterpret_cast<const frame_header*>(frame);
}

inline std::span<const std::byte> payload_of(const std::byte* frame) noexcept {
    const auto length = header_of(frame).length & frame_length_mask;
    return {frame + sizeof(frame_header), length};
}

// Bytes from this committed frame to the next one.
inline std::size_t stride_of(const std::byte* frame) noexcept {
    return frame_size(header_of(frame).length & frame_length_mask);
}

// Asks for the cache lines of a frame of `size` bytes that follow the line of
// its length word, while a consumer waits for that word. When the frame is
// published, its other lines are then on their way already (or here), and
// reading it takes about one transfer from the producer's core, not one per
// line in a row. The one-way p50 of 64-byte records (88-byte frames, two or
// three lines) fell from 305-320 to 244-252 ns in shm_ring, and from 355-385
// to 237-352 ns in mapped_log (alternated runs). Prefetches do not fault, so
// lines past the end of a mapping are harmless.
inline void prefetch_frame_rest(const std::byte* frame, std::size_t size) noexcept {
    const auto first = reinterpret_cast<std::uintptr_t>(frame);
    for (std::uintptr_t line = (first | 63) + 1; line < first + size; line += 64)
        __builtin_prefetch(reinterpret_cast<const void*>(line));
}

// A run of committed frames that are contiguous in memory. Windows are made
// of one or more spans (a ring wraps, a log rolls segments).
struct frame_span {
    const std::byte* first = nullptr;
    const std::byte* last = nullptr;  // one past the last frame
    std::size_t count = 0;            // records (padding frames excluded)
    std::size_t first_index = 0;      // index of the span's first record in the window
    std::size_t stride = 0;  // bytes between frames when fixed (slots), 0: each frame's own size
};

}  // namespace omstream::detail
