// The engine of memory<T>: a log of frames in a linked list of chunks.
// Producers claim frames under a spin lock held for a few instructions, fill
// them outside it and publish each frame by its length word (the first frame
// of a batch last, so a batch appears at once). Consumer groups keep their
// position, their emitter's state and the windows they have handed out; they
// are served under a mutex that producers never take.
#pragma once

#include <omstream/clock.hpp>
#include <omstream/detail/asymmetric_wait_word.hpp>
#include <omstream/detail/biased_lock.hpp>
#include <omstream/detail/claim.hpp>
#include <omstream/detail/emitter_identity.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/spin_lock.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/record.hpp>
#include <omstream/window.hpp>

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <ranges>
#include <span>
#include <string>
#include <vector>

namespace omstream::detail {

inline constexpr std::size_t default_max_record_size = 16u << 20;
inline constexpr std::size_t default_chunk_size = 1u << 20;
inline constexpr std::size_t max_free_chunks = 4;  // released chunks kept for reuse
// Records an emitter sees at first of a group's backlog (memory_log::claim()).
inline constexpr std::uint64_t first_view_records = std::uint64_t{1} << 16;

struct memory_log_settings {
    std::size_t capacity = 0;  // 0: unbounded
    bool keep = false;
    std::chrono::nanoseconds max_age{0};  // 0: no limit
    std::size_t max_record_size = default_max_record_size;
    std::size_t chunk_size = default_chunk_size;
};

struct memory_chunk {
    explicit memory_chunk(std::size_t bytes)
        : size(bytes), data(static_cast<std::byte*>(::operator new (bytes, std::align_val_t{64}))) {
        std::memset(data, 0, bytes);
    }
    ~memory_chunk() { ::operator delete (data, std::align_val_t{64}); }
    memory_chunk(const memory_chunk&) = delete;
    memory_chunk& operator=(const memory_chunk&) = delete;

    const std::size_t size;
    std::byte* const data;
    std::uint64_t first_seq = 0;  // of the chunk's first record
    std::size_t frames_end = 0;   // where its frames end, once sealed
    std::atomic<memory_chunk*> next{nullptr};
    // Latest `created` in it, for max_age. Producers write it on every
    // append, so it has a line of its own: consumers read the fields above
    // on every poll.
    alignas(64) std::atomic<std::int64_t> newest_ns{0};
};

// A position in the log: the frame of record `seq` (or where it will be).
struct memory_cursor {
    memory_chunk* chunk = nullptr;
    std::size_t pos = 0;
    std::uint64_t seq = 0;
};

// A window handed out and not yet committed (S9).
struct memory_ticket {
    std::uint64_t id = 0;
    memory_cursor first;
    std::uint64_t count = 0;
    std::int64_t created_ns = 0;
};

struct memory_group {
    std::string name;
    std::array<std::byte, 64> state{};  // the emitter's state (S8)
    memory_cursor next;                 // first record not yet handed out
    std::vector<memory_ticket> in_flight;
    std::deque<memory_ticket> retry;  // abandoned windows, oldest first: delivered again first
    std::uint64_t next_ticket = 1;
    std::uint64_t windows = 0, late = 0, expired = 0;
    std::uint64_t version = 0;  // moves on whenever a claim changes the group
    std::uint32_t members = 0;  // handles joined to it: remove_group() waits for none
    emitter_identity emitter;   // whose state `state` is (its name: a string literal)

    std::uint64_t committed() const noexcept {
        std::uint64_t low = next.seq;
        for (const auto& t : in_flight)
            low = std::min(low, t.first.seq);
        for (const auto& t : retry)
            low = std::min(low, t.first.seq);
        return low;
    }
};

// One consumer handle's memory of the emitter's last `wait`: until the frame
// it needs is published, the group changes or the deadline passes, polls
// give the same answer without scanning. The frame is the one whose record
// completes what the emitter asked for (decision::more), not the next one:
// the producer is writing there, and reading it would pull the line away.
struct memory_idle {
    bool valid = false;
    const std::byte* frame = nullptr;
    std::uint64_t version = 0;
    std::int64_t deadline_ns = 0;
    std::uint32_t polls = 0;
};

template <class T>
class memory_log {
    static constexpr bool fixed = record_traits<T>::fixed_size;
    static constexpr std::size_t fixed_stride = fixed ? frame_size(codec<T>::fixed_size) : 0;

  public:
    memory_log(std::string name, memory_log_settings settings)
        : name_(std::move(name)),
          settings_(settings),
          created_ns_(to_ns<std::chrono::system_clock>(std::chrono::system_clock::now())) {
        auto* first = new memory_chunk(settings_.chunk_size);
        oldest_ = first;
        tail_ = {first, 0, 0};
        scan_ = tail_;
    }

    ~memory_log() {
        for (auto* c = oldest_; c != nullptr;) {
            auto* next = c->next.load(std::memory_order_relaxed);
            delete c;
            c = next;
        }
        for (auto* c : free_)
            delete c;
    }

    memory_log(const memory_log&) = delete;
    memory_log& operator=(const memory_log&) = delete;

    const std::string& name() const noexcept { return name_; }
    process_wait_word consumer_signal() noexcept { return process_wait_word(consumers_); }

    // --- producers ---------------------------------------------------------

    // Appends `records` as one batch. Waits for room while a bound is set and
    // full (S13), at most `timeout` (negative: no limit); with `try_only`
    // returns false instead of waiting. `me`: the producer handle's owner of
    // the producers' lock (biased_lock), or nullptr.
    template <class Range>
    bool append(const Range& records, std::int64_t created_ns, std::chrono::nanoseconds timeout,
                bool try_only, biased_lock::owner* me = nullptr) {
        const std::size_t n = static_cast<std::size_t>(std::ranges::distance(records));
        if constexpr (fixed) {
            if (n == 1 && try_append_one(*std::ranges::begin(records), stamp_at{created_ns}, me))
                return true;
        }
        if (n == 0)
            return true;
        check_sizes(records);
        if (settings_.capacity != 0 && n > settings_.capacity)
            throw error(
                errc::record_too_large,
                "a batch of " + std::to_string(n) + " records exceeds the capacity of stream '" +
                    name_ + "' (" + std::to_string(settings_.capacity) +
                    "); append it in smaller batches or open the stream with a larger capacity");

        boost::container::small_vector<run, 2> runs;
        std::uint64_t first_seq = 0;
        std::chrono::steady_clock::time_point give_up_at{};  // read only once we must wait
        for (;;) {
            const std::uint32_t seen = space_.epoch();
            {
                biased_lock::guard lock(producer_lock_, me);
                if (has_room(n)) {
                    first_seq = claim_frames(records, n, created_ns, runs);
                    break;
                }
            }
            if (try_only)
                return false;
            if (give_up_at == std::chrono::steady_clock::time_point{})
                give_up_at = std::chrono::steady_clock::now() + timeout;
            space_.enter();
            if (!has_room_unlocked(n, me)) {
                const bool limited = timeout >= std::chrono::nanoseconds::zero();
                const auto left = limited ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                give_up_at - std::chrono::steady_clock::now())
                                          : std::chrono::nanoseconds(-1);
                if (limited && left <= std::chrono::nanoseconds::zero()) {
                    space_.leave();
                    throw error(errc::full,
                                "stream '" + name_ + "' stayed full (capacity " +
                                    std::to_string(settings_.capacity) +
                                    " unprocessed records) for the whole timeout; consume "
                                    "faster, or raise the capacity or the timeout");
                }
                space_.sleep(seen, left);
            }
            space_.leave();
        }
        write_frames(records, first_seq, created_ns, runs);
        consumer_signal().wake();
        return true;
    }

    // One fixed-size record while the bound and the tail chunk have room: the
    // common case, kept short. `stamp()` gives its `created` time. It is read
    // after the claim (unless max_age needs it inside), so that the clock's
    // latency overlaps the write instead of holding up the locked claim.
    // Returns false for the general path to take the record (to wait, roll to
    // a new chunk, or refuse its size).
    template <class Stamp>
    bool try_append_one(const T& record, Stamp&& stamp, biased_lock::owner* me = nullptr) {
        static_assert(fixed);
        if (codec<T>::fixed_size > settings_.max_record_size)
            return false;
        const bool aged = settings_.max_age.count() != 0;
        std::int64_t created_ns = aged ? stamp() : 0;
        std::byte* frame;
        std::uint64_t seq;
        {
            biased_lock::guard lock(producer_lock_, me);
            if (!has_room(1) || tail_.pos + fixed_stride > tail_.chunk->size)
                return false;
            frame = tail_.chunk->data + tail_.pos;
            seq = tail_.seq;
            tail_.pos += fixed_stride;
            ++tail_.seq;
            note_created(*tail_.chunk, created_ns);
        }
        if (!aged)
            created_ns = stamp();
#if defined(__x86_64__) || defined(__i386__)
        // Ask for the line two lines on in exclusive state now: the consumer
        // that released the chunk wrote it last (zeroing it), and waiting for
        // it at the write would stall the appends behind it. Not further: a
        // waiting consumer watches the line that completes its window, and
        // a line taken from it early is taken twice (256 bytes on ran at
        // 46 M records/s between two threads, 128 at 50, 512 at 42).
        asm volatile("prefetchw %0" ::"m"(*(frame + 128)));
#endif
        auto* header = reinterpret_cast<frame_header*>(frame);
        header->checksum = 0;
        header->seq = seq;
        header->created = created_ns;
        codec<T>::encode(record, frame + sizeof(frame_header));
        publish(frame, static_cast<std::uint32_t>(codec<T>::fixed_size));
        consumer_signal().wake();
        return true;
    }

    // A producer handle closes: the producers' lock must not stay biased to it.
    void forget_producer(biased_lock::owner& me) noexcept {
        producer_lock_.forget(me);
    }

    // --- consumer groups ---------------------------------------------------

    memory_group* join(std::string_view name, std::span<const std::byte> initial_state,
                       const emitter_identity& emitter = {}) {
        std::lock_guard lock(groups_mutex_);
        for (auto& g : groups_)
            if (g.name == name) {
                if (!same_emitter(g.emitter.id, emitter.id))
                    refuse_other_emitter(name, name_, emitter, g.emitter.name);
                ++g.members;
                return &g;
            }
        // Without keep, what every group has processed is gone, even while
        // its chunk waits to be released: a new group starts after it.
        const std::uint64_t released = released_below();
        auto& g = groups_.emplace_back();
        g.name = std::string(name);
        g.emitter = emitter;
        if (!initial_state.empty())  // an empty span may hold no pointer: memcpy's UB
            std::memcpy(g.state.data(), initial_state.data(),
                        std::min(initial_state.size(), g.state.size()));
        g.next = advanced({oldest_, 0, oldest_->first_seq},
                          std::max(released, oldest_->first_seq) - oldest_->first_seq);
        g.members = 1;
        update_watermark();
        return &g;
    }

    // A handle closed: it is no member of `g` any more.
    void leave(memory_group* g) noexcept {
        std::lock_guard lock(groups_mutex_);
        --g->members;
    }

    // Forgets the group `name`, so that it holds no records back; refused
    // while a handle consumes in it. False when there is no such group.
    bool remove_group(std::string_view name) {
        std::lock_guard lock(groups_mutex_);
        auto it = std::find_if(groups_.begin(), groups_.end(),
                               [&](const memory_group& g) { return g.name == name; });
        if (it == groups_.end())
            return false;
        if (it->members != 0)
            throw error(errc::in_use, "group '" + std::string(name) + "' of stream '" + name_ +
                                          "' has " + std::to_string(it->members) + " open handle" +
                                          (it->members == 1 ? "" : "s") +
                                          " consuming in it; close them before removing the group");
        // What every group processed stays released for groups to come.
        released_floor_ = released_below();
        groups_.erase(it);
        settled();  // wakes producers that waited for its room
        return true;
    }

    // Hands out the group's next window: an abandoned one first (S9), else
    // what `pick` decides from the pending records and the group's state.
    template <class Pick>
    log_claim<T> claim(memory_group* g, const lazy_now& now, claim_buffers& buffers, Pick& pick,
                       memory_idle& idle) {
        std::lock_guard lock(groups_mutex_);
        // Every 1024th poll takes the full path anyway (for max_age, which
        // drops records without a new one arriving).
        if (idle.valid && ++idle.polls % 1024 != 0 && g->version == idle.version &&
            load_length(idle.frame) == 0 && !now.passed(idle.deadline_ns)) {
            log_claim<T> c;
            c.deadline_ns = idle.deadline_ns;
            return c;
        }
        idle.valid = false;
        if (!g->retry.empty()) {
            auto ticket = g->retry.front();
            g->retry.pop_front();
            g->in_flight.push_back(ticket);
            ++g->version;
            return handed_out(ticket, buffers);
        }
        // A group with a first view's worth scanned already needs no scan
        // unless its emitter asks for more (below).
        bool scanned_all = scan_.seq - g->next.seq < first_view_records && scan(first_view_records);
        const std::int64_t now_ns = now();
        last_now_ns_ = now_ns;
        if (settings_.max_age.count() != 0)
            skip_expired(*g, now_ns);
        std::uint64_t limit = first_view_records;
        for (;;) {
            const std::size_t pending = spans_from(g->next, limit, buffers.pending);
            const omstream::window<T> view(buffers.pending, pending, now_ns, g->next.seq);
            auto state = g->state;
            const picked p = pick(view, std::span<std::byte, 64>(state));
            // A group far behind sees its backlog in parts, so that a poll
            // costs what its window needs, not what the backlog holds (and
            // the first look at a long backlog reads only the part). Asked
            // again, it sees twice as many records (its scans add up to
            // about twice the last).
            if (detail::might_need_more(p, pending) &&
                (pending < scan_.seq - g->next.seq || !scanned_all)) {
                limit *= 2;
                if (!scanned_all) {
                    scanned_all = scan(limit);
                    if (settings_.max_age.count() != 0)
                        skip_expired(*g, now_ns);  // what was just scanned may be too old
                }
                continue;
            }
            if (p.what == action::wait) {
                detail::check_fillable(p, pending, settings_.capacity, name_);
                remember_wait(*g, p, idle);
                return {};
            }
            detail::check_picked(p, pending, [&] { return state != g->state; });
            ++g->version;
            g->state = state;
            const memory_cursor first = g->next;
            g->next = advanced(first, p.count);
            if (p.what == action::drop) {
                g->late += p.count;
                settled();
                continue;  // dropping late records may make a window ready
            }
            memory_ticket ticket{g->next_ticket++, first, p.count, now_ns};
            g->in_flight.push_back(ticket);
            return handed_out(ticket, buffers);
        }
    }

    // Commits (the callback returned) or abandons (it threw) a window.
    void finish(memory_group* g, std::uint64_t ticket_id, bool committed) {
        {
            std::lock_guard lock(groups_mutex_);
            auto it = std::find_if(g->in_flight.begin(), g->in_flight.end(),
                                   [&](const memory_ticket& t) { return t.id == ticket_id; });
            if (it == g->in_flight.end())
                return;
            const memory_ticket ticket = *it;
            g->in_flight.erase(it);
            ++g->version;
            if (committed) {
                ++g->windows;
                settled();
            } else {
                auto pos = std::find_if(
                    g->retry.begin(), g->retry.end(),
                    [&](const memory_ticket& t) { return t.first.seq > ticket.first.seq; });
                g->retry.insert(pos, ticket);
            }
        }
        if (!committed)
            consumer_signal().wake();  // another member may take it now
    }

    std::vector<buffered_entry<T>> buffer(std::string_view group) {
        std::lock_guard lock(groups_mutex_);
        scan();
        std::uint64_t processed_below = 0;
        for (const auto& g : groups_)
            if (g.name == group)
                processed_below = g.committed();
        std::vector<buffered_entry<T>> out;
        claim_buffers scratch;
        const std::size_t n =
            spans_from({oldest_, 0, oldest_->first_seq}, std::numeric_limits<std::uint64_t>::max(),
                       scratch.pending);
        out.reserve(n);
        const std::uint64_t released = released_below();
        const omstream::window<T> all(scratch.pending, n, 0, oldest_->first_seq);
        for (auto e : all.entries()) {
            if (e.seq() < released)
                continue;
            out.push_back({e.seq(), e.created_ns(), e.seq() < processed_below, T(e.data())});
        }
        return out;
    }

    stream_metadata metadata() {
        std::lock_guard lock(groups_mutex_);
        scan();
        stream_metadata m;
        m.name = name_;
        m.kind = "stream.memory";
        m.created_ns = created_ns_;
        m.record_type = record_traits<T>::name();
        m.layout = record_traits<T>::layout();
        m.fingerprint = record_traits<T>::fingerprint();
        m.capacity = settings_.capacity;
        m.appended = scan_.seq;
        m.first_seq = std::max(oldest_->first_seq, released_below());
        m.retained = scan_.seq - m.first_seq;
        m.dropped = dropped_;
        for (const auto& g : groups_) {
            m.late += g.late;
            group_metadata gm;
            gm.name = g.name;
            gm.position = g.next.seq;
            gm.committed = g.committed();
            gm.windows = g.windows;
            gm.late = g.late;
            gm.expired = g.expired;
            gm.in_flight = g.in_flight.size();
            m.groups.push_back(std::move(gm));
        }
        return m;
    }

  private:
    // Contiguous frames that one batch claimed in one chunk.
    struct run {
        memory_chunk* chunk;
        std::size_t pos;
        std::size_t count;
    };

    template <class Range>
    void check_sizes(const Range& records) const {
        if constexpr (fixed) {
            static_assert(codec<T>::fixed_size <= max_payload, "omstream: record type too large");
            if (codec<T>::fixed_size > settings_.max_record_size)
                refuse_size(codec<T>::fixed_size);
        } else {
            for (const auto& r : records) {
                const std::size_t size = codec<T>::encoded_size(r);
                if (size > settings_.max_record_size)
                    refuse_size(size);
            }
        }
    }

    [[noreturn]] void refuse_size(std::size_t size) const {
        throw error(errc::record_too_large,
                    "a record of " + std::to_string(size) + " bytes exceeds max_record_size (" +
                        std::to_string(settings_.max_record_size) + " bytes) of stream '" + name_ +
                        "'; split the record or open the stream with a larger om::max_record_size");
    }

    // Under producer_lock_. Reads watermark_ (a line the consumers write)
    // only when the room last seen is used up: the watermark never falls.
    bool has_room(std::size_t n) noexcept {
        if (settings_.capacity == 0 || tail_.seq + n <= room_end_)
            return true;
        room_end_ = watermark_.load(std::memory_order_acquire) + settings_.capacity;
        return tail_.seq + n <= room_end_;
    }
    bool has_room_unlocked(std::size_t n, biased_lock::owner* me) {
        biased_lock::guard lock(producer_lock_, me);
        return has_room(n);
    }

    template <class Record>
    static std::size_t frame_bytes(const Record& r) {
        if constexpr (fixed) {
            return fixed_stride;
        } else {
            return frame_size(codec<T>::encoded_size(r));
        }
    }

    // Under producer_lock_: reserves frames for the batch, rolling to new
    // chunks as needed, and returns the first sequence number.
    template <class Range>
    std::uint64_t claim_frames(const Range& records, std::size_t n, std::int64_t created_ns,
                               boost::container::small_vector<run, 2>& runs) {
        const std::uint64_t first_seq = tail_.seq;
        auto it = std::ranges::begin(records);
        for (std::size_t i = 0; i < n; ++i, ++it) {
            const std::size_t bytes = frame_bytes(*it);
            if (tail_.pos + bytes > tail_.chunk->size)
                roll(bytes);
            if (runs.empty() || runs.back().chunk != tail_.chunk)
                runs.push_back({tail_.chunk, tail_.pos, 0});
            ++runs.back().count;
            tail_.pos += bytes;
            ++tail_.seq;
            note_created(*tail_.chunk, created_ns);
        }
        return first_seq;
    }

    // Under producer_lock_: keeps the chunk's newest `created` for max_age,
    // the only reader (a store per append otherwise wasted).
    void note_created(memory_chunk& chunk, std::int64_t created_ns) noexcept {
        if (settings_.max_age.count() == 0)
            return;
        if (chunk.newest_ns.load(std::memory_order_relaxed) < created_ns)
            chunk.newest_ns.store(created_ns, std::memory_order_relaxed);
    }

    // Seals the tail chunk and links a fresh one with room for `bytes` (a
    // record larger than a chunk gets one of its own size). Readers that
    // reach the padding marker follow `next`, which is set before the marker.
    void roll(std::size_t bytes) {
        memory_chunk* fresh = nullptr;
        if (bytes > settings_.chunk_size) {
            fresh = new memory_chunk((bytes + 63) & ~std::size_t{63});
        } else {
            {
                std::lock_guard lock(free_lock_);
                if (!free_.empty()) {
                    fresh = free_.back();  // cleared by pool()
                    free_.pop_back();
                }
            }
            if (fresh == nullptr)
                fresh = new memory_chunk(settings_.chunk_size);
        }
        fresh->first_seq = tail_.seq;
        memory_chunk* old = tail_.chunk;
        old->frames_end = tail_.pos;
        old->next.store(fresh, std::memory_order_release);
        if (tail_.pos + sizeof(std::uint32_t) <= old->size)
            length_word(old->data + tail_.pos)
                .store(frame_committed | frame_padding, std::memory_order_release);
        tail_ = {fresh, 0, tail_.seq};
    }

    template <class Range>
    void write_frames(const Range& records, std::uint64_t first_seq, std::int64_t created_ns,
                      const boost::container::small_vector<run, 2>& runs) {
        std::byte* first_frame = runs.front().chunk->data + runs.front().pos;
        std::uint32_t first_length = 0;
        auto it = std::ranges::begin(records);
        std::uint64_t seq = first_seq;
        for (const run& r : runs) {
            std::byte* frame = r.chunk->data + r.pos;
            for (std::size_t i = 0; i < r.count; ++i, ++it, ++seq) {
                const std::size_t length =
                    fixed ? codec<T>::fixed_size : codec<T>::encoded_size(*it);
                auto* header = reinterpret_cast<frame_header*>(frame);
                header->checksum = 0;
                header->seq = seq;
                header->created = created_ns;
                codec<T>::encode(*it, frame + sizeof(frame_header));
                if (frame == first_frame) {
                    first_length = static_cast<std::uint32_t>(length);
                } else {
                    publish(frame, static_cast<std::uint32_t>(length));
                }
                frame += frame_size(length);
            }
        }
        publish(first_frame, first_length);  // the whole batch becomes visible here
    }

    // --- consumers (under groups_mutex_) ------------------------------------

    // After a wait: the frame to watch is that of the `p.more`-th record past
    // what is published, where we know where it will be (fixed-size records
    // in the current chunk), else the next frame.
    void remember_wait(const memory_group& g, const picked& p, memory_idle& idle) const noexcept {
        memory_chunk* c = scan_.chunk;
        if (scan_.pos + sizeof(std::uint32_t) > c->size)
            return;  // no room for a word: the next frame is in a chunk not linked yet
        std::size_t at = scan_.pos;
        if constexpr (fixed) {
            // At most the chunk's last frame: its publication is news too.
            const std::uint64_t fit = (c->size - scan_.pos) / fixed_stride;
            if (fit != 0)
                at += static_cast<std::size_t>(std::min<std::uint64_t>(p.more, fit) - 1) *
                      fixed_stride;
        }
        // A chunk holding unpublished frames is never released, so the
        // frame stays valid memory while we watch it (under groups_mutex_).
        idle = {true, c->data + at, g.version, p.deadline_ns, 0};
    }

    // Moves scan_ over the frames published since the last look, at most
    // `budget` records of them. True when it reached the last one.
    bool scan(std::uint64_t budget = std::numeric_limits<std::uint64_t>::max()) noexcept {
        for (std::uint64_t seen = 0;;) {
            memory_chunk* c = scan_.chunk;
            if (scan_.pos + sizeof(std::uint32_t) > c->size) {
                if (!follow(scan_))
                    return true;
                continue;
            }
            const std::uint32_t length = load_length(c->data + scan_.pos);
            if (length == 0)
                return true;
            if (length & frame_padding) {
                follow(scan_);
                continue;
            }
            if (seen++ == budget)
                return false;
            // Fixed-size frames: the next position does not wait for this
            // load, so the loads of a long scan overlap.
            scan_.pos += fixed ? fixed_stride : frame_size(length & frame_length_mask);
            ++scan_.seq;
        }
    }

    static bool follow(memory_cursor& cursor) noexcept {
        memory_chunk* next = cursor.chunk->next.load(std::memory_order_acquire);
        if (next == nullptr)
            return false;
        cursor = {next, 0, cursor.seq};
        return true;
    }

    // Published records in `c`'s chunk from `c` on.
    std::uint64_t available_in_chunk(const memory_cursor& c) const noexcept {
        if (c.chunk == scan_.chunk)
            return scan_.seq - c.seq;
        return c.chunk->next.load(std::memory_order_acquire)->first_seq - c.seq;
    }
    std::size_t end_in_chunk(const memory_cursor& c) const noexcept {
        return c.chunk == scan_.chunk ? scan_.pos : c.chunk->frames_end;
    }

    // Fills `out` with spans covering at most `limit` published records from
    // `from`, and returns how many they cover.
    std::size_t spans_from(memory_cursor from, std::uint64_t limit,
                           std::vector<frame_span>& out) const {
        out.clear();
        std::size_t total = 0;
        while (total < limit && from.seq < scan_.seq) {
            const std::uint64_t avail = available_in_chunk(from);
            if (avail == 0) {
                from = {from.chunk->next.load(std::memory_order_acquire), 0, from.seq};
                continue;
            }
            const std::uint64_t take = std::min<std::uint64_t>(avail, limit - total);
            const std::byte* begin = from.chunk->data + from.pos;
            const std::byte* end = take == avail ? from.chunk->data + end_in_chunk(from)
                                                 : begin + bytes_of(begin, take);
            out.push_back({begin, end, static_cast<std::size_t>(take), total});
            total += take;
            from = take == avail
                       ? memory_cursor{from.chunk, end_in_chunk(from), from.seq + take}
                       : memory_cursor{from.chunk, from.pos + static_cast<std::size_t>(end - begin),
                                       from.seq + take};
        }
        return total;
    }

    static std::size_t bytes_of(const std::byte* frame, std::uint64_t count) noexcept {
        if constexpr (fixed) {
            return static_cast<std::size_t>(count) * fixed_stride;
        } else {
            const std::byte* p = frame;
            for (std::uint64_t i = 0; i < count; ++i)
                p += stride_of(p);
            return static_cast<std::size_t>(p - frame);
        }
    }

    // Without keep, what every group has processed is gone (minibatch's
    // keep=False), even while its chunk waits to be released or reused:
    // records below this are not retained. Under groups_mutex_.
    std::uint64_t released_below() const noexcept {
        if (settings_.keep)
            return 0;
        return groups_.empty() ? released_floor_ : std::max(released_floor_, watermark_.load());
    }

    // The cursor `count` published records after `c`.
    memory_cursor advanced(memory_cursor c, std::uint64_t count) const noexcept {
        while (count != 0) {
            const std::uint64_t avail = available_in_chunk(c);
            if (avail == 0) {
                c = {c.chunk->next.load(std::memory_order_acquire), 0, c.seq};
                continue;
            }
            const std::uint64_t take = std::min(avail, count);
            c.pos += bytes_of(c.chunk->data + c.pos, take);
            c.seq += take;
            count -= take;
        }
        return c;
    }

    log_claim<T> handed_out(const memory_ticket& ticket, claim_buffers& buffers) const {
        const std::size_t n = spans_from(ticket.first, ticket.count, buffers.window);
        return {true, omstream::window<T>(buffers.window, n, ticket.created_ns, ticket.first.seq),
                ticket.id};
    }

    // max_age: a group skips records that are too old to deliver.
    void skip_expired(memory_group& g, std::int64_t now_ns) {
        const std::int64_t cutoff = now_ns - settings_.max_age.count();
        while (g.next.seq < scan_.seq) {
            if (available_in_chunk(g.next) == 0) {
                g.next = {g.next.chunk->next.load(std::memory_order_acquire), 0, g.next.seq};
                continue;
            }
            if (header_of(g.next.chunk->data + g.next.pos).created >= cutoff)
                break;
            g.next = advanced(g.next, 1);
            ++g.expired;
            ++g.version;
        }
        settled();
    }

    // After positions moved: publish the new low watermark to producers,
    // release chunks nobody needs, and wake producers waiting for room.
    void settled() {
        update_watermark();
        release();
        space_.wake();
    }

    void update_watermark() noexcept {
        std::uint64_t low = groups_.empty() ? std::max(oldest_->first_seq, released_below())
                                            : std::numeric_limits<std::uint64_t>::max();
        for (const auto& g : groups_)
            low = std::min(low, g.committed());
        const std::uint64_t before = watermark_.load(std::memory_order_relaxed);
        watermark_.store(low, std::memory_order_release);
        if (low < before) [[unlikely]] {
            // Producers keep the room they last saw (has_room()); a watermark
            // that falls (the last group of a kept stream removed) takes it back.
            biased_lock::guard lock(producer_lock_, nullptr);
            room_end_ = 0;
        }
    }

    void release() {
        const std::uint64_t watermark = watermark_.load(std::memory_order_relaxed);
        const std::int64_t cutoff = settings_.max_age.count() == 0
                                        ? std::numeric_limits<std::int64_t>::min()
                                        : last_now_ns_ - settings_.max_age.count();
        for (;;) {
            memory_chunk* next = oldest_->next.load(std::memory_order_acquire);
            if (next == nullptr || oldest_ == scan_.chunk)
                return;
            const bool expired = oldest_->newest_ns.load(std::memory_order_relaxed) < cutoff;
            // Strictly below: no cursor can then still point into oldest_.
            const bool passed = next->first_seq < watermark;
            const bool drop = groups_.empty() ? expired : passed && (!settings_.keep || expired);
            if (!drop)
                return;
            if (groups_.empty())
                dropped_ += next->first_seq - oldest_->first_seq;
            memory_chunk* old = oldest_;
            oldest_ = next;
            if (!pool(old))
                delete old;
        }
    }

    // Keeps a released chunk for roll() to reuse, cleared here: the consumer
    // has time to spare, the producer that rolls has none. Only consumers
    // add to free_ (under groups_mutex_), so room seen stays room.
    bool pool(memory_chunk* chunk) {
        if (chunk->size != settings_.chunk_size)
            return false;
        {
            std::lock_guard lock(free_lock_);
            if (free_.size() >= max_free_chunks)
                return false;
        }
        std::memset(chunk->data, 0, chunk->size);
        chunk->next.store(nullptr, std::memory_order_relaxed);
        chunk->newest_ns.store(0, std::memory_order_relaxed);
        std::lock_guard lock(free_lock_);
        free_.push_back(chunk);
        return true;
    }

    const std::string name_;
    memory_log_settings settings_;
    const std::int64_t created_ns_;

    // Producers' side.
    alignas(64) biased_lock producer_lock_;
    memory_cursor tail_;          // where the next frame goes
    std::uint64_t room_end_ = 0;  // records below this have room (has_room())
    // Released chunks, reused by roll(): under a lock of their own, so that
    // a consumer that releases a chunk does not revoke a producer's bias.
    spin_lock free_lock_;
    std::vector<memory_chunk*> free_;
    alignas(64) std::atomic<std::uint64_t> watermark_{0};  // lowest unprocessed record
    wait_word space_;                                      // producers waiting for room
    wait_word consumers_;                                  // consumers waiting for records

    // Consumers' side.
    alignas(64) std::mutex groups_mutex_;
    memory_cursor scan_;              // end of what is published, as far as seen
    memory_chunk* oldest_;            // first chunk still held
    std::list<memory_group> groups_;  // a list: handles point into it
    std::uint64_t dropped_ = 0;
    std::uint64_t released_floor_ =
        0;                          // released by groups that were removed (see released_below())
    std::int64_t last_now_ns_ = 0;  // consumers' clock at the last claim, for max_age
};

}  // namespace omstream::detail
