// What metadata() and buffer() return (DESIGN.md §1): the stream's identity,
// counters and each consumer group's position; and the retained records with
// their `created` time and whether the caller's group has processed them.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace omstream {

struct group_metadata {
    std::string name;
    std::uint64_t position = 0;   // sequence number of the next record to hand out
    std::uint64_t committed = 0;  // every record below this one is processed (S9)
    std::uint64_t windows = 0;    // windows committed
    std::uint64_t late = 0;       // S6: records dropped as late
    std::uint64_t expired = 0;    // records skipped because max_age had passed
    std::uint64_t lost = 0;       // records overwritten or deleted before the group got them
    std::size_t in_flight = 0;    // windows handed out and not yet committed
};

struct stream_metadata {
    std::string name;
    std::string kind;               // "stream.memory", "stream.shm_ring", "stream.mapped_log"
    std::int64_t created_ns = 0;    // when the stream was created (system clock)
    std::string record_type;        // S3
    std::string layout;             // S3: what the fingerprint hashes
    std::uint64_t fingerprint = 0;  // S3
    std::size_t capacity = 0;       // records held unprocessed at most; 0 = unbounded
    std::uint64_t appended = 0;     // records appended since creation (= next sequence number)
    std::uint64_t retained = 0;     // records still held
    std::uint64_t first_seq = 0;    // sequence number of the oldest record held
    std::uint64_t late = 0;         // sum over groups
    std::uint64_t dropped = 0;      // records released before every group processed them
    bool lossy = false;             // shm_ring created with om::lossy: full means overwrite
    std::vector<group_metadata> groups;
    // mapped_log: what the last recovery on open cut off (S14: reported, never delivered).
    std::uint64_t recovered_cut_bytes = 0;
    std::string recovery_note;  // empty, or what was cut where and why

    std::chrono::system_clock::time_point created() const {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(created_ns)));
    }
};

template <class T>
struct buffered_entry {
    std::uint64_t seq = 0;
    std::int64_t created_ns = 0;
    bool processed = false;  // relative to the group of the stream handle (S10)
    T data{};
};

}  // namespace omstream
