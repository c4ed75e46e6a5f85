// mapped_log<T>: a persistent, crash-safe log in files mapped into memory
// (Boost.Interprocess file_mapping + mapped_region). One directory per
// stream under a root (om::root, else $OMSTREAM_HOME, $XDG_DATA_HOME/omstream
// or ~/.local/share/omstream); see detail/log_format.hpp for the layout.
//
// Producers in any number of processes claim a sequence number and a byte
// range together with one 16-byte compare-and-swap, write their frames
// (CRC-32C included) and publish them by their length words, as in shm_ring:
// no lock is shared on any append or read path. Consumer groups (positions,
// emitter state, windows out) live in the mapped header, so they persist.
// The first process to open a log after everyone closed it (or crashed)
// checks the frames from the last checkpoint on and cuts the log before the
// first frame that is incomplete or fails its checks.
#pragma once

#include <omstream/clock.hpp>
#include <omstream/concepts.hpp>
#include <omstream/detail/asymmetric_wait_word.hpp>
#include <omstream/detail/claim.hpp>
#include <omstream/detail/emitter_identity.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/log_files.hpp>
#include <omstream/detail/log_format.hpp>
#include <omstream/detail/names.hpp>
#include <omstream/detail/owner_process.hpp>
#include <omstream/detail/periodic_thread.hpp>
#include <omstream/detail/process.hpp>
#include <omstream/detail/shared_groups.hpp>
#include <omstream/detail/sole_producer.hpp>
#include <omstream/detail/spin_wait.hpp>
#include <omstream/detail/work_ahead.hpp>
#include <omstream/diagnostics.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/options.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/mman.h>

namespace omstream {

namespace detail {

// The size of a segment's data, a power of two: positions divide by it with
// shifts and masks (a 64-bit division costs tens of cycles on the append path).
struct segment_bytes {
    std::uint64_t value = 0;
    unsigned shift = 0;

    segment_bytes() = default;
    explicit segment_bytes(std::uint64_t bytes) noexcept
        : value(bytes), shift(static_cast<unsigned>(std::countr_zero(bytes))) {}
    operator std::uint64_t() const noexcept { return value; }
    friend std::uint64_t operator/(std::uint64_t pos, segment_bytes d) noexcept {
        return pos >> d.shift;
    }
    friend std::uint64_t operator%(std::uint64_t pos, segment_bytes d) noexcept {
        return pos & (d.value - 1);
    }
    friend std::uint64_t operator*(std::uint64_t k, segment_bytes d) noexcept {
        return k << d.shift;
    }
};

// Retention and start settings, fixed when the log is created.
struct log_settings {
    bool keep = false;
    std::int64_t max_age_ns = 0;
    std::uint64_t max_bytes = 0;
};

// Segments at least this large are mapped ahead of need on a thread of
// their own: faulting in the pages of a smaller one costs less than the thread.
inline constexpr std::size_t map_ahead_from = std::size_t{1} << 20;

// What work_ahead calls a job mapping segment k for writing or for reading.
constexpr std::uint64_t segment_job(std::uint64_t k, bool create) noexcept {
    return k * 2 + (create ? 1 : 0);
}

// One open log in this process: the directory, the mapped header and the
// segments mapped so far. Each open() makes its own (so that each holds its
// own shared flock, which tells the next opener whether anyone is left).
struct log_mapping {
    std::string name;
    std::filesystem::path dir;
    file_descriptor dir_fd;
    file_descriptor header_fd;
    std::shared_ptr<mapped_file> header_file;
    log_header* header = nullptr;
    segment_bytes data_size;    // D: bytes of frames per segment
    std::size_t file_size = 0;  // segment header + D
    unsigned mode = 0600;
    sync_policy durability{};
    start_position start{};

    std::mutex mutex;  // guards `segments` (a handle may be copied to other threads)
    std::map<std::uint64_t, std::shared_ptr<mapped_file>> segments;
    // The next segment, mapped ahead by a producer or a reader a quarter of
    // the way into the one before (see map_ahead); keyed by segment_job().
    // Declared last: destroyed first, it waits for a job under way.
    work_ahead<std::shared_ptr<mapped_file>> ahead;

    // Where this mapping reaches its files: through the directory it opened
    // (/proc/self/fd/N), not by name, so that a handle of a log that was
    // removed (and maybe made again under the same name) never creates or
    // deletes files in the new one's directory. `dir` where /proc is missing.
    std::filesystem::path opened_dir;
    const std::filesystem::path& files() const { return opened_dir.empty() ? dir : opened_dir; }
    std::filesystem::path segment_path(std::uint64_t k) const {
        return files() / segment_file_name(k);
    }
    // The path to show in messages.
    std::filesystem::path segment_shown(std::uint64_t k) const {
        return dir / segment_file_name(k);
    }
    segment_header* segment_of(const std::shared_ptr<mapped_file>& f) const noexcept {
        return reinterpret_cast<segment_header*>(f->base);
    }
};

inline std::string fixed_string(const char* s, std::size_t capacity) {
    return std::string(s, strnlen(s, capacity));
}

inline stream_metadata log_metadata(const log_mapping& m) {
    const log_header& h = *m.header;
    stream_metadata md;
    md.name = m.name;
    md.kind = "stream.mapped_log";
    md.created_ns = h.created_ns;
    md.record_type = fixed_string(h.record_type, sizeof h.record_type);
    md.layout = fixed_string(h.layout, sizeof h.layout);
    md.fingerprint = h.fingerprint;
    md.capacity = h.capacity;
    md.appended = load_position(h.tail).seq;
    md.dropped =
        h.skipped.load(std::memory_order_relaxed) + h.deleted.load(std::memory_order_relaxed);
    md.recovered_cut_bytes = h.cut_bytes;
    md.recovery_note = fixed_string(h.recovery_note, sizeof h.recovery_note);
    auto& groups = const_cast<log_header&>(h).groups.groups;
    for (auto& g : groups) {
        if (g.status.load(std::memory_order_acquire) != group_active)
            continue;
        group_block b;
        snapshot(g, b);
        md.late += b.late;
        md.groups.push_back(
            {std::string(g.name, std::min<std::size_t>(g.name_length, shared_group_name_max)),
             b.next, b.committed(), b.windows, b.late, b.expired, 0,
             static_cast<std::size_t>(b.out)});
    }
    return md;
}

}  // namespace detail

template <class T>
class mapped_log {
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
        boost::hana::tuple<boost::hana::type<root_option>, boost::hana::type<segment_size_option>,
                           boost::hana::type<capacity_option>, boost::hana::type<keep_option>,
                           boost::hana::type<max_age_option>, boost::hana::type<max_bytes_option>,
                           boost::hana::type<durability_option>, boost::hana::type<start_option>,
                           boost::hana::type<permissions_option>>;
    static constexpr std::string_view kind = "stream.mapped_log";

    // Opens the log <root>/<name>, creating it at first access. The first
    // process to open it after everyone closed it checks and repairs it.
    template <class Options>
    static mapped_log open(std::string_view name, const Options& options) {
        detail::check_stream_name(name);
        const std::filesystem::path root_dir =
            options.template get<root_option>("").empty()
                ? detail::default_log_root()
                : std::filesystem::path(options.template get<root_option>(""));
        const std::size_t segment =
            options.template get<segment_size_option>(detail::default_segment_data);
        if (segment < detail::min_segment_data || segment > detail::max_segment_data ||
            !std::has_single_bit(segment))
            throw error(errc::invalid_option,
                        "mapped_log segment_size must be a power of two between 64 KiB and "
                        "256 MiB, not " +
                            std::to_string(segment));
        const std::size_t data = segment;
        const std::size_t payload = options.template get<max_record_size_option>(
            fixed ? codec<T>::fixed_size : std::min<std::size_t>(std::size_t{1} << 20, data / 4));
        if (payload == 0 || detail::frame_size(payload) > data / 2 ||
            (fixed && payload < codec<T>::fixed_size))
            throw error(errc::invalid_option,
                        "mapped_log max_record_size must hold one record and fit twice in a "
                        "segment (segment_size " +
                            std::to_string(data) + ")");
        detail::log_settings settings;
        settings.keep = options.template get<keep_option>(false);
        settings.max_age_ns =
            options.template get<max_age_option>(std::chrono::nanoseconds(0)).count();
        settings.max_bytes = options.template get<max_bytes_option>(0);
        if (settings.max_age_ns < 0)
            throw error(errc::invalid_option, "mapped_log max_age must not be negative");
        auto m = std::make_shared<detail::log_mapping>();
        m->name = std::string(name);
        m->dir = root_dir / std::string(name);
        m->mode = detail::log_file_mode(options.template get<permissions_option>(0600));
        m->durability = options.template get<durability_option>(sync_never);
        m->start = options.template get<start_option>(from_oldest);
        open_log(*m, root_dir, data, fixed ? codec<T>::fixed_size : payload,
                 options.template get<capacity_option>(0), settings);
        check_settings_given(*m, options, data, payload, settings);
        return mapped_log(std::move(m));
    }

    // Deletes the log's directory; processes that have it open keep reading
    // what they mapped.
    static bool remove(std::string_view name, const std::filesystem::path& root_dir = {}) {
        detail::check_stream_name(name);
        const auto dir =
            (root_dir.empty() ? detail::default_log_root() : root_dir) / std::string(name);
        std::error_code ec;
        return std::filesystem::remove_all(dir, ec) > 0;
    }

    // The oldest record a log retains, read from its oldest segment's first
    // index entry without mapping it (list()); 0 when it cannot be read.
    static std::uint64_t first_seq_on_disk(const detail::log_mapping& m) {
        const std::uint64_t k = m.header->oldest_segment.load(std::memory_order_acquire);
        if (k == 0)
            return 0;
        detail::segment_index_entry first{};
        const int fd = ::open(m.segment_path(k).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 0;
        const auto got =
            ::pread(fd, &first, sizeof first, offsetof(detail::segment_header, entries));
        ::close(fd);
        return got == static_cast<ssize_t>(sizeof first) && first.seq_plus_one != 0
                   ? first.seq_plus_one - 1
                   : 0;
    }

    // The header of the log in `dir` (any record type), mapped without
    // opening the log; nothing when it is not a log of this format version.
    // Throws when the header cannot be mapped.
    static std::unique_ptr<detail::log_mapping> map_header_only(const std::filesystem::path& dir) {
        const auto header = dir / "header";
        auto m = std::make_unique<detail::log_mapping>();
        m->name = dir.filename().string();
        m->dir = dir;
        m->header_file = detail::map_whole_file(header, "reading " + header.string());
        if (m->header_file->size < detail::log_header_bytes)
            return nullptr;
        m->header = reinterpret_cast<detail::log_header*>(m->header_file->base);
        if (m->header->magic != detail::log_magic ||
            m->header->version != detail::log_format_version ||
            m->header->ready.load(std::memory_order_acquire) != 1)
            return nullptr;
        return m;
    }

    // Removes the consumer group `group_name` of the log `name` under `root_dir` (any
    // record type): it holds no segment back any more, leaves metadata, and
    // a later consumer of that name starts a new group. Refused with
    // errc::in_use while a member of it lives. Returns false when there is
    // no such log or group.
    static bool remove_group(std::string_view name, std::string_view group_name,
                             const std::filesystem::path& root_dir = {}) {
        detail::check_stream_name(name);
        const auto dir =
            (root_dir.empty() ? detail::default_log_root() : root_dir) / std::string(name);
        std::error_code ec;
        if (!std::filesystem::is_regular_file(dir / "header", ec))
            return false;
        // A shared flock on the header, as every open handle holds: no opener
        // takes the log for abandoned and recovers it while we work.
        const detail::file_descriptor header_fd =
            detail::open_file(dir / "header", O_RDWR, 0, "opening " + (dir / "header").string());
        const bool alone = ::flock(header_fd.get(), LOCK_EX | LOCK_NB) == 0;
        while (::flock(header_fd.get(), LOCK_SH) != 0 && errno == EINTR) {
        }
        auto m = map_header_only(dir);
        if (!m)
            throw error(errc::corrupt, "removing group '" + std::string(group_name) + "' of log '" +
                                           std::string(name) + "': " + (dir / "header").string() +
                                           " is not a log header of this version (format " +
                                           std::to_string(detail::log_format_version) +
                                           "), or is still being created; nothing was removed");
        // Whether a member lives is told by its process ID (alone, none does).
        if (!alone)
            detail::check_pid_namespace(m->header->pid_namespace,
                                        "removing group '" + std::string(group_name) +
                                            "' of log '" + std::string(name) + "'",
                                        "or remove the group from a process of theirs");
        const bool removed = detail::remove_group(m->header->groups, group_name, name);
        if (removed)
            m->header->space.wake();  // producers may have waited for its room
        return removed;
    }

    // The logs under `root_dir` (any record type), with their metadata.
    static std::vector<stream_metadata> list(const std::filesystem::path& root_dir = {}) {
        std::vector<stream_metadata> out;
        std::error_code ec;
        const auto where = root_dir.empty() ? detail::default_log_root() : root_dir;
        for (const auto& entry : std::filesystem::directory_iterator(where, ec)) {
            if (!std::filesystem::is_regular_file(entry.path() / "header", ec))
                continue;
            try {
                auto found = map_header_only(entry.path());
                if (!found)
                    continue;
                detail::log_mapping& m = *found;
                auto md = detail::log_metadata(m);
                md.first_seq = first_seq_on_disk(m);
                md.retained = md.appended - std::min(md.appended, md.first_seq);
                out.push_back(std::move(md));
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
    // One record, stamped once its room is claimed (as shm_ring::append_one).
    template <class Stamp>
    bool append_one(const T& record, Stamp&& stamp, std::chrono::nanoseconds wait_limit,
                    bool try_only) {
        return put(std::span<const T>(&record, 1), stamp, wait_limit, try_only);
    }
    bool try_append(const T* first, std::size_t n, std::int64_t created_ns) {
        return try_append(std::span<const T>(first, n), created_ns);
    }

    // Forces every record published so far to disk and moves the checkpoint
    // (recovery checks only what comes after it). Once it succeeds, a failed
    // periodic sync is over: appends go on.
    void sync() {
        checkpoint();
        if (local_->sync_failed.load(std::memory_order_relaxed)) {
            std::lock_guard lock(local_->sync_error_mutex);
            local_->sync_error = nullptr;
            local_->sync_failed.store(false, std::memory_order_relaxed);
        }
    }

    // --- consumers -----------------------------------------------------------

    group_handle join(std::string_view group_name, std::span<const std::byte> initial_state,
                      const detail::emitter_identity& emitter = {}) {
        detail::own_for_consuming(*local_, "mapped_log", m_->name);
        auto& h = *m_->header;
        local_->member = detail::join_group(
            h.groups, group_name, initial_state, [&] { return start_seq(m_->start); }, m_->name,
            emitter);
        return local_->member;
    }

    template <class Pick>
    claim_type claim(const group_handle& me, const detail::lazy_now& now,
                     detail::claim_buffers& buffers, Pick&& pick) {
        detail::own_for_consuming(*local_, "mapped_log", m_->name);
        if (still_idle(me, now)) {
            claim_type c;
            c.deadline_ns = local_->idle.deadline_ns;
            return c;
        }
        local_->idle.valid = false;
        auto& cache = local_->block;  // our group's state, as we last saw or made it
        detail::group_block& b = cache.block;
        for (;;) {
            const std::uint64_t seen = cache.take(*me.group);
            local_->others_out =
                std::any_of(b.handed_out, b.handed_out + b.out,
                            [&](const detail::shared_window& w) { return w.owner != me.token; });
            if (const auto taken = detail::window_to_take_over(me, b, local_->last_dead_check);
                taken != b.out) {
                auto& w = b.handed_out[taken];
                // Retention (max_age, max_bytes) deleted records of it since it
                // was handed out: they are expired, and what is left comes again.
                if (const std::uint64_t oldest = oldest_seq(); w.first_seq < oldest) {
                    const std::uint64_t lost = std::min(w.count, oldest - w.first_seq);
                    b.expired += lost;
                    if (lost == w.count) {
                        b.handed_out[taken] = b.handed_out[b.out - 1];
                        --b.out;
                        (void)cache.propose(me, seen);  // or someone changed it: look again
                        continue;
                    }
                    w.first_seq += lost;
                    w.count -= lost;
                }
                w.owner = me.token;
                if (!cache.propose(me, seen))
                    continue;
                return hand_out(w, buffers);
            }
            if (b.out == detail::shared_max_windows) {
                cache.keep(seen);
                return {};  // too many windows out: wait for commits
            }
            bool changed = false;
            // Segments past max_age go before a group behind reads them (it
            // would otherwise get them, and lose the newer ones that expire
            // after its first window instead).
            if (m_->header->max_age_ns > 0 && behind_the_tail_segment())
                retire(now());
            // Records that retention deleted before this group got them.
            const std::uint64_t oldest = oldest_seq();
            if (b.next < oldest) {
                b.expired += oldest - b.next;
                b.next = oldest;
                changed = true;
            }
            follow(b.next);
            // A group far behind with half a part's worth pending reads on
            // only when its emitter asks for more (below): a poll then costs
            // what its window needs, not a part's reading.
            if (!local_->front_short || local_->front_pos - local_->pend_pos < read_budget / 2)
                extend();
            const std::uint64_t next_seen = b.next;
            b.next = local_->pend_seq;  // steps over padding at the front
            std::uint64_t budget = read_budget;
            for (;;) {
                const std::size_t pending = local_->pend_count;
                const omstream::window<T> view(local_->spans, pending, now(), local_->pend_seq);
                auto state = b.state;
                const detail::picked p = pick(view, std::span<std::byte, 64>(state));
                // The view stops short of what is published (a group far
                // behind), or at a damaged frame. Asked again, the emitter
                // sees more (reading twice as much more each time: its scans
                // of the view add up to about twice the last); at a damaged
                // frame, the poll throws.
                const bool needs_more = detail::might_need_more(p, pending);
                if (local_->front_bad != nullptr && needs_more)
                    throw corrupt_at(local_->front_pos, local_->front_bad);
                if (local_->front_short && needs_more) {
                    budget *= 2;
                    extend(budget);
                    b.next = local_->pend_seq;  // it may have stepped over padding
                    continue;
                }
                if (p.what == action::wait) {
                    detail::check_fillable(p, pending, m_->header->capacity, m_->name);
                    if (changed && !cache.propose(me, seen))
                        local_->reset();
                    if (!changed) {
                        if (b.next == next_seen)
                            cache.keep(seen);  // `b` is as we took it
                        local_->idle = {true, seen, p.deadline_ns, 0};
                    }
                    return {};
                }
                detail::check_picked(p, pending, [&] { return state != b.state; });
                const std::uint64_t first = local_->pend_seq;
                take_front(p.count, buffers.window);
                b.state = state;
                b.next = local_->pend_seq;
                if (p.what == action::drop) {
                    b.late += p.count;
                    changed = true;
                    continue;
                }
                auto& w = b.handed_out[b.out++];
                w = {first, p.count, now(), me.token};
                if (!cache.propose(me, seen)) {
                    local_->reset();  // someone moved first: look again
                    break;
                }
                return {true,
                        omstream::window<T>(buffers.window, p.count, w.created_ns, w.first_seq),
                        w.first_seq};
            }
        }
    }

    void commit(const group_handle& me, std::uint64_t ticket) {
        detail::own_for_consuming(*local_, "mapped_log", m_->name);  // not a parent's window
        if (detail::finish_window(me, local_->block, ticket, true))
            m_->header->space.wake_ordered();  // after a locked raise: no fence needed
        if (local_->pend_pos / m_->data_size >
            m_->header->oldest_segment.load(std::memory_order_relaxed)) {
            retire(no_age_check);
            prune_segments();
        }
    }
    void abandon(const group_handle& me, std::uint64_t ticket) {
        if (!detail::owns_its_windows(*local_)) [[unlikely]]
            return;  // the parent's window: it comes again when the parent gives it up
        detail::finish_window(me, local_->block, ticket, false);
        local_->reset();  // the records come again: read them from the group's position
        m_->header->consumers.wake_always();
    }

    detail::host_wait_word consumer_signal() noexcept {
        return detail::host_wait_word(m_->header->consumers);
    }

    std::chrono::nanoseconds max_sleep() const noexcept {
        if (local_->stuck.at() != detail::stuck_watch::none) {
            // Waiting on a claimed frame, or only on the end of the log?
            if (local_->stuck.at() < detail::load_position(m_->header->tail).pos)
                return detail::stuck_check_after;
            local_->stuck.clear();
        }
        if (local_->others_out)
            return detail::dead_member_check_every;
        return std::chrono::nanoseconds(-1);
    }

    std::vector<buffered_entry<T>> buffer(std::string_view group_name) {
        const auto md = metadata();
        std::uint64_t processed_below = 0;
        std::uint64_t from = ~std::uint64_t{0};
        for (const auto& g : md.groups) {
            from = std::min(from, g.committed);
            if (g.name == group_name)
                processed_below = g.committed;
        }
        if (settings_keep() || md.groups.empty())
            from = 0;
        std::vector<buffered_entry<T>> out;
        auto [seq, pos] = locate(from);
        for (;;) {
            const std::byte* data = segment_data(pos / m_->data_size);
            if (data == nullptr)
                break;
            const auto f =
                detail::check_frame(data, m_->data_size, pos % m_->data_size, seq, rules());
            if (f.kind == detail::frame_check::unwritten) {
                // A dead producer's claim: give it up, as a reader would, and
                // go on to what others published after it.
                if (pos < detail::load_position(m_->header->tail).pos && no_live_writer_at(pos) &&
                    recover_claim(seq, pos))
                    continue;
                break;
            }
            if (f.kind == detail::frame_check::bad)
                throw corrupt_at(pos, f.why);
            if (f.kind == detail::frame_check::record) {
                const std::byte* frame = data + pos % m_->data_size;
                out.push_back({seq, detail::header_of(frame).created, seq < processed_below,
                               T(codec<T>::decode(detail::payload_of(frame)))});
            }
            seq = f.next_seq;
            pos = pos - pos % m_->data_size + f.next_offset;
        }
        return out;
    }

    stream_metadata metadata() const {
        auto md = detail::log_metadata(*m_);
        md.first_seq = oldest_seq();
        md.retained = md.appended - std::min(md.appended, md.first_seq);
        return md;
    }
    const std::string& name() const noexcept { return m_->name; }
    const std::filesystem::path& directory() const noexcept { return m_->dir; }

  private:
    static constexpr std::uint64_t no_pos = ~std::uint64_t{0};
    // Bytes of frames a poll reads at first (see extend()): about 0.15 ms here.
    static constexpr std::uint64_t read_budget = std::uint64_t{1} << 20;

    struct local_state {
        detail::owner_process owner;    // see detail::adopt_handle()
        bool inherited_member = false;  // our group membership was a parent's
        std::shared_ptr<detail::log_mapping> mapping;
        int producer = -1;
        std::uint64_t sole_id = 0;  // our producer slot's name in the sole-producer word
        detail::group_member member;
        detail::block_cache block;  // our group's state, as we last saw or made it
        // The group's pending records as this handle last saw them: from
        // (pend_seq, pend_pos) to the frontier (front_seq, front_pos).
        bool have_pending = false;
        std::uint64_t pend_seq = 0, pend_pos = 0;
        std::uint64_t front_seq = 0, front_pos = 0;
        std::vector<detail::frame_span> spans;
        std::size_t pend_count = 0;
        bool front_short = false;         // the frontier stopped at extend()'s budget, not the end
        const char* front_bad = nullptr;  // or at a frame that fails its checks: what is wrong
        std::uint64_t low_cache = 0;      // lowest committed position, as last computed
        detail::stuck_watch stuck;        // the unwritten frame extend() waits on
        // The emitter's last `wait`, and the group state it saw (still_idle()).
        struct {
            bool valid = false;
            std::uint64_t current = 0;
            std::int64_t deadline_ns = 0;
            std::uint64_t polls = 0;
        } idle;
        std::chrono::steady_clock::time_point last_dead_check{};
        bool others_out = false;
        // Producer side: the segment written last.
        std::uint64_t segment_k = no_pos;
        std::byte* segment_base = nullptr;
        // Consumer side: the frames of the segment read last.
        std::uint64_t read_k = no_pos;
        std::byte* read_data = nullptr;
        // Oldest retained record, for the oldest segment seen.
        std::uint64_t oldest_k = no_pos, oldest_first = 0;
        std::uint64_t unsynced = 0;  // records since the last sync by count
        // sync_every(interval): a thread started at the first append syncs
        // what came since its last look, each interval, even while the
        // producer pauses. A failure there is thrown by the next append.
        // Where no thread can be started, appends check the interval.
        std::atomic<bool> dirty{false};
        bool no_syncer = false;
        std::chrono::steady_clock::time_point last_sync{};
        std::atomic<bool> sync_failed{false};
        std::mutex sync_error_mutex;
        std::exception_ptr sync_error;
        std::unique_ptr<detail::periodic_thread> syncer;  // last: stops first

        // In a child of fork() (detail::adopt_handle): the syncer and what it
        // reported are the parent's. Its object is left alone.
        void forget_parent_threads() noexcept {
            (void)syncer.release();
            no_syncer = false;
            sync_failed.store(false, std::memory_order_relaxed);
            sync_error = nullptr;
        }

        void reset() noexcept {
            have_pending = false;
            spans.clear();
            pend_count = 0;
            front_short = false;
            front_bad = nullptr;
            idle.valid = false;
        }
        ~local_state() {
            if (!owner.here())
                return;  // a child of fork(): the slots (and the syncer) are its parent's
            syncer.reset();
            // What the last appends left unsynced goes to disk when the handle closes.
            if (unsynced != 0 || dirty.load(std::memory_order_relaxed)) {
                try {
                    mapped_log(mapping).checkpoint();
                } catch (...) {  // a destructor: the records stay in the page cache
                }
            }
            detail::leave_group(member);
            if (producer >= 0) {
                auto& h = *mapping->header;
                sole_claims(h).release(static_cast<std::size_t>(producer), sole_id);
                h.producers[producer].token.store(0, std::memory_order_release);
            }
        }
    };

    explicit mapped_log(std::shared_ptr<detail::log_mapping> m)
        : m_(std::move(m)), local_(std::make_shared<local_state>()) {
        local_->mapping = m_;
    }

    bool settings_keep() const noexcept { return m_->header->keep != 0; }

    // --- opening and recovery ---

    static void open_log(detail::log_mapping& m, const std::filesystem::path& root_dir,
                         std::size_t data, std::size_t payload, std::size_t capacity_records,
                         const detail::log_settings& settings) {
        const std::string what = "mapped_log '" + m.name + "' in " + root_dir.string();
        // Before anything is made: a process that cannot tell live processes
        // from dead ones must not share a log.
        const std::uint32_t ns = detail::pid_namespace(what);
        std::error_code ec;
        std::filesystem::create_directories(root_dir, ec);
        const bool made_dir = ::mkdir(m.dir.c_str(), detail::directory_mode(m.mode)) == 0;
        if (!made_dir && errno != EEXIST)
            detail::throw_errno(errno, "creating " + what);
        m.dir_fd = detail::open_file(m.dir, O_RDONLY | O_DIRECTORY, 0, "opening " + what);
        if (const std::filesystem::path fd_path = "/proc/self/fd/" + std::to_string(m.dir_fd.get());
            ::access(fd_path.c_str(), F_OK) == 0)
            m.opened_dir = fd_path;
        if (made_dir)
            detail::give_mode(m.dir_fd.get(), detail::directory_mode(m.mode));
        // Opening is serialised per log (never appends or reads).
        detail::flock_guard opening(m.dir_fd.get(), LOCK_EX);
        m.header_fd =
            detail::open_file(m.dir / "header", O_RDWR | O_CREAT, m.mode, "opening " + what);
        struct stat st {};
        if (::fstat(m.header_fd.get(), &st) != 0)
            detail::throw_errno(errno, "opening " + what);
        const bool alone = ::flock(m.header_fd.get(), LOCK_EX | LOCK_NB) == 0;
        bool fresh = static_cast<std::size_t>(st.st_size) == 0;
        if (!fresh && static_cast<std::size_t>(st.st_size) < detail::log_header_bytes)
            throw error(errc::corrupt,
                        m.dir.string() + "/header is " + std::to_string(st.st_size) +
                            " bytes, too short for a log header (" +
                            std::to_string(detail::log_header_bytes) +
                            "): truncated or not an omstream log; remove the log with "
                            "mapped_log<T>::remove(\"" +
                            m.name + "\")");
        if (fresh) {
            detail::give_mode(m.header_fd.get(), m.mode);
            detail::preallocate(m.header_fd.get(), detail::log_header_bytes, "creating " + what);
        }
        m.header_file = detail::map_whole_file(m.dir / "header", "mapping " + what);
        m.header = reinterpret_cast<detail::log_header*>(m.header_file->base);
        auto& h = *m.header;
        if (!fresh && h.ready.load(std::memory_order_acquire) != 1 && alone &&
            (h.magic == std::array<char, 8>{} || h.magic == detail::log_magic))
            fresh = true;  // its creator died while setting it up: set it up again
        if (fresh) {
            if (!alone)
                throw error(errc::io_error, what +
                                                " is being created by a process that holds "
                                                "it without a header; try again");
            // A creator writes its header before any segment: segments beside
            // a blank header mean that the header was lost (a machine crash
            // before it reached the disk, or damage), not that its creator
            // died. Setting it up again would delete every record.
            std::size_t segments = 0;
            for (const auto& entry : std::filesystem::directory_iterator(m.files(), ec))
                segments += entry.path().extension() == ".seg";
            if (segments != 0)
                throw error(errc::corrupt,
                            m.dir.string() + "/header is blank but the log holds " +
                                std::to_string(segments) +
                                " segment files: its header was lost, and its records cannot "
                                "be read without it; move the directory away to keep them, or "
                                "remove the log with mapped_log<T>::remove(\"" +
                                m.name + "\")");
            initialise(h, data, payload, capacity_records, settings, m.mode);
            // On disk before any segment is: see above.
            ::msync(m.header_file->base, detail::log_header_bytes, MS_SYNC);
        }
        validate(m);
        // Alone, nobody else uses the log: it becomes ours, whoever used it before.
        if (alone)
            h.pid_namespace = ns;
        else
            detail::check_pid_namespace(h.pid_namespace,
                                        "mapped_log '" + m.name + "' (" + m.dir.string() + ")",
                                        "or open it once they have closed it");
        m.mode = detail::log_file_mode(h.file_mode);  // segments get the log's, whoever makes them
        m.data_size = detail::segment_bytes(h.segment_data);
        m.file_size = detail::segment_header_bytes + m.data_size;
        if (alone && !fresh)
            recover(m);
        // Held while this handle lives: the next opener learns whether it is alone.
        while (::flock(m.header_fd.get(), LOCK_SH) != 0 && errno == EINTR) {
        }
    }

    // The settings a log keeps in its header are fixed when it is created:
    // an open that asks for another value of one is refused rather than
    // silently given the log's (a max_bytes that never applies fills a disk).
    template <class Options>
    static void check_settings_given(const detail::log_mapping& m, const Options& options,
                                     std::size_t data, std::size_t payload,
                                     const detail::log_settings& settings) {
        const auto& h = *m.header;
        auto refuse = [&](const char* option, std::uint64_t kept, std::uint64_t asked) {
            throw error(errc::invalid_option,
                        "mapped_log '" + m.name + "' was created with " + option + " " +
                            std::to_string(kept) + " and this open asks for " +
                            std::to_string(asked) +
                            ": a log's settings are fixed at creation; open it without the "
                            "option or with the same value, or remove the log to start anew");
        };
        if (Options::template has<keep_option> && (h.keep != 0) != settings.keep)
            refuse("keep", h.keep != 0, settings.keep);
        if (Options::template has<max_age_option> && h.max_age_ns != settings.max_age_ns)
            refuse("max_age (ns)", static_cast<std::uint64_t>(h.max_age_ns),
                   static_cast<std::uint64_t>(settings.max_age_ns));
        if (Options::template has<max_bytes_option> && h.max_bytes != settings.max_bytes)
            refuse("max_bytes", h.max_bytes, settings.max_bytes);
        if (Options::template has<segment_size_option> && h.segment_data != data)
            refuse("segment_size", h.segment_data, data);
        if (Options::template has<max_record_size_option> && !fixed && h.max_payload != payload)
            refuse("max_record_size", h.max_payload, payload);
        if (Options::template has<capacity_option> &&
            h.capacity != options.template get<capacity_option>(0))
            refuse("capacity", h.capacity, options.template get<capacity_option>(0));
    }

    static void initialise(detail::log_header& h, std::size_t data, std::size_t payload,
                           std::size_t capacity_records, const detail::log_settings& settings,
                           unsigned mode) {
        std::memset(static_cast<void*>(&h), 0, detail::log_header_bytes);
        new (&h.consumers) detail::wait_word();
        new (&h.space) detail::wait_word();
        h.creator_pid = detail::process_id::self().pid;
        h.created_ns = detail::to_ns<std::chrono::system_clock>(std::chrono::system_clock::now());
        h.segment_data = data;
        h.capacity = capacity_records;
        h.max_payload = static_cast<std::uint32_t>(payload);
        h.file_mode = mode & 0777;
        h.keep = settings.keep ? 1 : 0;
        h.fingerprint = record_traits<T>::fingerprint();
        const std::string type = record_traits<T>::name(), layout = record_traits<T>::layout();
        std::memcpy(h.record_type, type.data(), std::min(type.size(), sizeof h.record_type - 1));
        std::memcpy(h.layout, layout.data(), std::min(layout.size(), sizeof h.layout - 1));
        h.max_age_ns = settings.max_age_ns;
        h.max_bytes = settings.max_bytes;
        h.version = detail::log_format_version;
        h.header_bytes = static_cast<std::uint32_t>(detail::log_header_bytes);
        h.magic = detail::log_magic;
        h.ready.store(1, std::memory_order_release);
    }

    static void validate(const detail::log_mapping& m) {
        const auto& h = *m.header;
        const std::string where = "mapped_log '" + m.name + "' (" + m.dir.string() + ")";
        if (h.magic != detail::log_magic)
            throw error(errc::corrupt, where +
                                           " has no omstream log header (bad magic): not "
                                           "ours or damaged; remove it with "
                                           "mapped_log<T>::remove");
        if (h.version != detail::log_format_version)
            throw error(errc::version_mismatch, where + " has format version " +
                                                    std::to_string(h.version) +
                                                    ", this omstream reads version " +
                                                    std::to_string(detail::log_format_version) +
                                                    "; open it with the omstream that wrote it");
        if (h.fingerprint != record_traits<T>::fingerprint())
            throw error(errc::type_mismatch,
                        where + " holds records of type " +
                            detail::fixed_string(h.record_type, sizeof h.record_type) + " (" +
                            detail::fixed_string(h.layout, sizeof h.layout) + "), not " +
                            record_traits<T>::name() + " (" + record_traits<T>::layout() + ")");
        if (h.segment_data < detail::min_segment_data ||
            h.segment_data > detail::max_segment_data || !std::has_single_bit(h.segment_data) ||
            h.max_payload == 0 || detail::frame_size(h.max_payload) > h.segment_data / 2)
            throw error(errc::corrupt, where + " has an impossible header (segment size " +
                                           std::to_string(h.segment_data) +
                                           "); remove it with mapped_log<T>::remove");
    }

    // Checks the frames from the checkpoint on and cuts the log before the
    // first one that is incomplete or fails its checks. Runs alone.
    // Where recovery number h.recoveries + 1 keeps a segment file it cuts.
    static std::filesystem::path cut_aside(const std::filesystem::path& segment,
                                           const detail::log_header& h) {
        return segment.string() + ".cut" + std::to_string(h.recoveries + 1);
    }
    // Whether the segment file holds a frame at its start (records, or a
    // producer's padding before them).
    static bool starts_with_a_frame(const std::filesystem::path& segment) {
        std::uint32_t word = 0;
        const int fd = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return false;
        const auto got =
            ::pread(fd, &word, sizeof word, static_cast<off_t>(detail::segment_header_bytes));
        ::close(fd);
        return got == static_cast<ssize_t>(sizeof word) && word != 0;
    }

    static void recover(detail::log_mapping& m) {
        auto& h = *m.header;
        const auto D = m.data_size;
        const detail::log_position claimed = detail::load_position(h.tail);
        std::uint64_t k = std::max<std::uint64_t>(h.oldest_segment.load(), h.checkpoint.pos / D);
        detail::log_position at = h.checkpoint;
        if (at.pos / D < k) {  // the checkpoint's segment is gone: start at the oldest one
            at.pos = k * D;
            at.seq = first_seq_in(m, k).value_or(at.seq);
        }
        const detail::log_position checked_from = at;
        const char* why = "";
        std::size_t moved_aside = 0;  // segment files kept aside as *.seg.cut<N>
        for (;;) {
            k = at.pos / D;
            const auto path = m.segment_path(k);
            std::error_code ec;
            if (!std::filesystem::exists(path, ec))
                break;  // the log ends at this segment boundary
            auto seg = map_segment(m, k, false);
            detail::populate_for_reading(*seg);  // scanned through
            std::byte* data = seg->base + detail::segment_header_bytes;
            const auto scan = detail::scan_segment(data, D, at.pos % D, at.seq,
                                                   detail::frame_rules{h.max_payload, fixed});
            at.seq = scan.seq;
            if (scan.complete) {
                at.pos = (k + 1) * D;
                continue;
            }
            at.pos = k * D + scan.end;
            // An unwritten frame that a producer's intent names is a claim
            // whose writer died (everyone is gone). When others published
            // after it (their append returned), skip it as padding, as a live
            // reader would, and go on; at the end of the log, cut it.
            if (*scan.why == '\0' && at.pos < claimed.pos) {
                if (const auto* dead = intent_of_claim(m, at.seq, at.pos);
                    dead != nullptr && dead->pos_to.load() <= claimed.pos &&
                    published_from(m, dead->pos_to.load(), claimed.pos)) {
                    pad_claim(m, at.seq, at.pos, *dead);
                    continue;  // the scan reads the padding and what follows
                }
            }
            why = scan.why;
            // Damaged frames: the segment as it was stays beside the log for
            // whoever wants to look at what the cut removes.
            if (*why != '\0') {
                std::error_code copy_error;
                std::filesystem::copy_file(path, cut_aside(path, h),
                                           std::filesystem::copy_options::overwrite_existing,
                                           copy_error);
                if (!copy_error)
                    ++moved_aside;
            }
            // Index entries past the cut name frames that are gone.
            for (auto& e : m.segment_of(seg)->entries)
                if (e.pos >= at.pos || e.pos < k * D)
                    e = {};
            // Nothing may stay past the end: readers trust zeros there.
            const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
            if (fd >= 0) {
                detail::zero_range(fd, seg->base, detail::segment_header_bytes + scan.end,
                                   D - scan.end);
                ::close(fd);
            }
            break;
        }
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(m.files(), ec)) {
            if (entry.path().extension() != ".seg")
                continue;
            const auto index = std::strtoull(entry.path().stem().c_str(), nullptr, 10);
            // Before the oldest: a deletion that a crash interrupted.
            if (index < h.oldest_segment.load()) {
                std::filesystem::remove(entry.path(), ec);
            } else if (index > at.pos / D) {
                // After the end: claimed but never reached (or mapped ahead),
                // unless records start it: then the log was cut before them
                // (damage, or a truncated segment), and they are kept aside.
                std::error_code move_error;
                if (starts_with_a_frame(entry.path())) {
                    std::filesystem::rename(entry.path(), cut_aside(entry.path(), h), move_error);
                    moved_aside += move_error ? 0 : 1;
                } else {
                    std::filesystem::remove(entry.path(), move_error);
                }
            }
        }
        {
            std::lock_guard lock(m.mutex);
            m.segments.clear();
        }
        const std::uint64_t cut = claimed.pos > at.pos ? claimed.pos - at.pos : 0;
        if (cut > 0 || *why != '\0') {
            ++h.recoveries;
            h.cut_bytes = cut;
            const std::string note =
                "recovery cut " + std::to_string(claimed.seq > at.seq ? claimed.seq - at.seq : 0) +
                " claimed records (" + std::to_string(cut) + " bytes) at sequence " +
                std::to_string(at.seq) + ", byte " + std::to_string(at.pos % D) + " of segment " +
                std::to_string(at.pos / D) +
                (*why != '\0' ? std::string(": ") + why : std::string(": incomplete frames")) +
                (moved_aside != 0 ? "; " + std::to_string(moved_aside) +
                                        " segment files as they were kept aside as *.seg.cut" +
                                        std::to_string(h.recoveries)
                                  : std::string());
            // Also said once, by default on stderr: cutting a log is news its owner wants.
            detail::diagnose("mapped_log '" + m.name + "' (" + m.dir.string() + "): " + note);
            std::memset(h.recovery_note, 0, sizeof h.recovery_note);
            std::memcpy(h.recovery_note, note.data(),
                        std::min(note.size(), sizeof h.recovery_note - 1));
        }
        h.tail = at;
        h.verified_from = std::min(checked_from.pos, at.pos);
        h.verified_to = at.pos;
        for (auto& p : h.producers) {
            p.token.store(0);
            p.pos_from.store(0);
            p.pos_to.store(0);
            p.confirmed.store(0);
        }
        new (&h.consumers) detail::wait_word();
        new (&h.space) detail::wait_word();
        // Groups: windows that were out come again (S9); nobody is past the end.
        for (auto& g : h.groups.groups) {
            // Everyone is gone: slots left being set up or removed are
            // settled as for a process that died (a removed group stays a
            // tombstone: names probing past it find their groups).
            if (const std::uint64_t status = g.status.load(); status != detail::group_active &&
                                                              status != detail::group_free &&
                                                              status != detail::group_removed)
                detail::settle_dead_setup(g, status);
            if (g.status.load() == detail::group_removed &&
                g.committed.load() > at.seq)  // what producers may reuse past the end
                g.committed.store(at.seq);
            if (g.status.load() != detail::group_active)
                continue;
            detail::group_block b;
            const std::uint64_t current = detail::snapshot(g, b);
            b.next = std::min(b.committed(), at.seq);
            b.out = 0;
            detail::store_words(b, g.initial);
            g.committed.store(b.next);
            g.current.store((((current >> 8) + 1) << 8) | detail::initial_block);
            for (auto& member : g.members)
                member.token.store(0);
        }
    }

    // --- segments ---

    // Opens (creating it when `create`), allocates and maps segment file k,
    // its pages faulted in for writing when `create` made or grew the file,
    // else as `how` says (a producer attaching to a segment that exists
    // faults in what it writes as it goes: populating all of a 64 MiB
    // segment took a few milliseconds at every producer handle's first
    // append); nullptr when it does not exist and !create. Reads nothing of the log's
    // shared state: map_ahead runs it on a thread of its own.
    static std::shared_ptr<detail::mapped_file> open_segment_file(
        const std::filesystem::path& path, const std::string& log_name, std::uint64_t k,
        std::size_t file_size, unsigned mode, bool create,
        detail::populate how = detail::populate::none) {
        const std::string what =
            "segment " + std::to_string(k) + " of mapped_log '" + log_name + "'";
        int fd = create ? ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, mode) : -1;
        bool fresh = fd >= 0;
        if (fd >= 0)
            detail::give_mode(fd, mode);
        else if (!create || errno == EEXIST)
            fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT && !create)
                return nullptr;
            if (errno == ENOENT)
                throw error(errc::io_error, "mapped_log '" + log_name +
                                                "' was removed while this handle had it open "
                                                "(its directory is gone), so " +
                                                what + " cannot be created; open the stream again");
            detail::throw_errno(errno, "opening " + what);
        }
        detail::file_descriptor guard(fd);
        struct stat st {};
        ::fstat(fd, &st);
        if (static_cast<std::size_t>(st.st_size) < file_size) {
            detail::preallocate(fd, file_size, "allocating " + what);
            fresh = true;
        }
        return detail::map_whole_file(path, "mapping " + what,
                                      create && fresh ? detail::populate::for_writing : how);
    }

    // A quarter of the way into a segment, maps the next one on a thread of
    // its own (a producer creates it; a reader waits until it exists), so
    // that the append or the read that crosses into it finds it mapped
    // instead of stalling while the kernel zeroes and maps 64 MiB of pages
    // (20-100 ms here). A quarter: early enough for the helper to finish
    // before a fast producer gets there, late enough that a small log does
    // not get a second segment. Called with the position before and after
    // an append or a read.
    void map_ahead(std::uint64_t from_pos, std::uint64_t to_pos, bool create) noexcept {
        const auto D = m_->data_size;
        const unsigned quarter = D.shift - 2;
        if (D < detail::map_ahead_from || (from_pos >> quarter) == (to_pos >> quarter) ||
            ((to_pos >> quarter) & 3) == 0)
            return;
        const std::uint64_t k = to_pos / D + 1;
        try {  // only a hint: the records are published already, whatever fails here
            {
                std::lock_guard lock(m_->mutex);
                if (m_->segments.contains(k))
                    return;
            }
            auto path = m_->segment_path(k);
            std::error_code ec;
            // A reader never displaces another job (a producer's, in this
            // handle) and waits for a producer elsewhere to create the file.
            if (!create && (!m_->ahead.idle() || !std::filesystem::exists(path, ec)))
                return;  // asked again at the next quarter
            m_->ahead.start(detail::segment_job(k, create),
                            [path = std::move(path), name = m_->name, k, size = m_->file_size,
                             mode = m_->mode, create] {
                                return open_segment_file(path, name, k, size, mode, create,
                                                         detail::populate::for_reading);
                            });
        } catch (...) {
        }
    }

    static std::shared_ptr<detail::mapped_file> map_segment(detail::log_mapping& m, std::uint64_t k,
                                                            bool create) {
        {
            std::lock_guard lock(m.mutex);
            if (auto it = m.segments.find(k); it != m.segments.end())
                return it->second;
        }
        // Mapped ahead (map_ahead)? A reader takes one mapped for writing too.
        std::shared_ptr<detail::mapped_file> f;
        if (auto ready = m.ahead.take(detail::segment_job(k, create)))
            f = std::move(*ready);
        if (!f && !create)
            if (auto ready = m.ahead.take(detail::segment_job(k, true)))
                f = std::move(*ready);
        if (!f)
            f = open_segment_file(m.segment_path(k), m.name, k, m.file_size, m.mode, create);
        if (!f)
            return nullptr;
        const std::string what = "segment " + std::to_string(k) + " of mapped_log '" + m.name + "'";
        const auto path = m.segment_shown(k);
        auto* sh = m.segment_of(f);
        if (sh->magic == std::array<char, 8>{}) {
            // New (or its creator died first): every creator writes the same.
            sh->version = detail::log_format_version;
            sh->header_bytes = static_cast<std::uint32_t>(detail::segment_header_bytes);
            sh->index = k;
            sh->segment_data = m.data_size;
            std::atomic_thread_fence(std::memory_order_release);
            sh->magic = detail::segment_magic;
        } else if (sh->magic != detail::segment_magic ||
                   sh->version != detail::log_format_version || sh->index != k ||
                   sh->segment_data != m.data_size) {
            throw error(
                sh->magic == detail::segment_magic && sh->version != detail::log_format_version
                    ? errc::version_mismatch
                    : errc::corrupt,
                what + " (" + path.string() + ") has a foreign header (format version " +
                    std::to_string(sh->version) + ", this omstream reads " +
                    std::to_string(detail::log_format_version) +
                    "); move it away or remove the log");
        }
        std::lock_guard lock(m.mutex);
        return m.segments.emplace(k, f).first->second;
    }

    // Unmaps the segments that retention deleted and that this handle no
    // longer reads (their disk space comes back only then).
    void prune_segments() {
        std::uint64_t below = m_->header->oldest_segment.load(std::memory_order_acquire);
        if (local_->have_pending)
            below = std::min(below, local_->pend_pos / m_->data_size);
        std::lock_guard lock(m_->mutex);
        for (auto it = m_->segments.begin(); it != m_->segments.end() && it->first < below;) {
            if (it->first == local_->segment_k)
                local_->segment_k = no_pos;
            if (it->first == local_->read_k)
                local_->read_data = nullptr;
            it = m_->segments.erase(it);
        }
    }

    // The frames of segment k, or nullptr when it does not exist (yet, or any more).
    std::byte* segment_data(std::uint64_t k) const {
        auto f = map_segment(*m_, k, false);
        return f ? f->base + detail::segment_header_bytes : nullptr;
    }
    detail::segment_header* segment_header_of(std::uint64_t k) const {
        auto f = map_segment(*m_, k, false);
        return f ? m_->segment_of(f) : nullptr;
    }

    // The sequence number of the first frame of segment k, if known.
    static std::optional<std::uint64_t> first_seq_in(detail::log_mapping& m, std::uint64_t k) {
        auto f = map_segment(m, k, false);
        if (!f)
            return std::nullopt;
        const std::byte* data = f->base + detail::segment_header_bytes;
        const detail::frame_rules rules{m.header->max_payload, fixed, false};
        const auto& e = m.segment_of(f)->entries[0];
        const std::uint64_t s = std::atomic_ref(const_cast<std::uint64_t&>(e.seq_plus_one))
                                    .load(std::memory_order_acquire);
        // The index is a hint written before the frames it names: trust it
        // only when the frame agrees (a recovery may have cut past it).
        if (s != 0 && e.pos == k * m.data_size &&
            is_frame(detail::check_frame(data, m.data_size, 0, s - 1, rules)))
            return s - 1;
        const std::uint32_t word = detail::load_length(data);
        if (!(word & detail::frame_committed) ||
            ((word & detail::frame_padding) &&
             (word & detail::frame_length_mask) < detail::padding_with_seq))
            return std::nullopt;
        const std::uint64_t own = detail::header_of(data).seq;
        if (is_frame(detail::check_frame(data, m.data_size, 0, own, rules)))
            return own;
        return std::nullopt;
    }

    static bool is_frame(const detail::checked_frame& f) noexcept {
        return f.kind == detail::frame_check::record || f.kind == detail::frame_check::padding;
    }

    // Whether a sparse-index entry of segment k names a published frame of
    // sequence number `seq` below the tail (the file may say anything).
    bool entry_ok(std::uint64_t k, const detail::segment_index_entry& e, std::uint64_t seq,
                  std::uint64_t tail_pos) const {
        const auto D = m_->data_size;
        if (e.pos % detail::frame_alignment != 0 || e.pos / D != k || e.pos >= tail_pos)
            return false;
        const std::byte* data = segment_data(k);
        return data != nullptr &&
               is_frame(detail::check_frame(data, D, e.pos % D, seq, rules(false)));
    }

    // Whether this handle's reader is (or starts) before the segment that
    // producers append to.
    bool behind_the_tail_segment() const {
        const auto D = m_->data_size;
        const std::uint64_t tail_k = detail::load_position(m_->header->tail).pos / D;
        return !local_->have_pending || local_->pend_pos / D < tail_k;
    }

    // Sequence number of the oldest record retained.
    std::uint64_t oldest_seq() const {
        const std::uint64_t k = m_->header->oldest_segment.load(std::memory_order_acquire);
        if (k == 0)
            return 0;
        if (k != local_->oldest_k) {
            const auto s = first_seq_in(*m_, k);
            if (!s)
                return local_->oldest_first;
            local_->oldest_k = k;
            local_->oldest_first = *s;
        }
        return local_->oldest_first;
    }

    // --- finding records ---

    // Where the first frame of sequence number >= `seq` starts, through the
    // segments' sparse indexes (then a short walk).
    std::pair<std::uint64_t, std::uint64_t> locate(std::uint64_t seq) const {
        const auto D = m_->data_size;
        const std::uint64_t oldest = m_->header->oldest_segment.load(std::memory_order_acquire);
        const detail::log_position tail = detail::load_position(m_->header->tail);
        if (seq >= tail.seq)
            return {tail.seq, tail.pos};
        std::uint64_t lo = oldest, hi = tail.pos / D, best = oldest;
        while (lo <= hi) {
            const std::uint64_t mid = lo + (hi - lo) / 2;
            const auto first = first_seq_in(*m_, mid);
            if (first && *first <= seq) {
                best = mid;
                lo = mid + 1;
            } else if (first) {
                if (mid == 0)
                    break;
                hi = mid - 1;
            } else {
                break;  // unknown: walk from what we have
            }
        }
        std::uint64_t at_seq = first_seq_in(*m_, best).value_or(oldest_seq());
        std::uint64_t at_pos = best * D;
        if (auto* sh = segment_header_of(best)) {
            for (std::size_t j = detail::segment_index_entries; j-- > 1;) {
                const auto& e = sh->entries[j];
                const std::uint64_t s1 = std::atomic_ref(const_cast<std::uint64_t&>(e.seq_plus_one))
                                             .load(std::memory_order_acquire);
                if (s1 != 0 && s1 - 1 <= seq && s1 - 1 >= at_seq &&
                    entry_ok(best, e, s1 - 1, tail.pos)) {
                    at_seq = s1 - 1;
                    at_pos = e.pos;
                    break;
                }
            }
        }
        walk_to(seq, at_seq, at_pos);
        return {at_seq, at_pos};
    }

    // Where the first record created at or after `time_ns` starts.
    std::pair<std::uint64_t, std::uint64_t> locate_time(std::int64_t time_ns) const {
        const auto D = m_->data_size;
        const std::uint64_t oldest = m_->header->oldest_segment.load(std::memory_order_acquire);
        const detail::log_position tail = detail::load_position(m_->header->tail);
        std::uint64_t best = oldest;
        for (std::uint64_t lo = oldest, hi = tail.pos / D; lo <= hi;) {
            const std::uint64_t mid = lo + (hi - lo) / 2;
            auto* sh = segment_header_of(mid);
            if (sh == nullptr || sh->entries[0].seq_plus_one == 0)
                break;
            if (sh->entries[0].created <= time_ns) {
                best = mid;
                lo = mid + 1;
            } else {
                if (mid == 0)
                    break;
                hi = mid - 1;
            }
        }
        std::uint64_t at_seq = first_seq_in(*m_, best).value_or(oldest_seq());
        std::uint64_t at_pos = best * D;
        if (auto* sh = segment_header_of(best)) {
            for (std::size_t j = detail::segment_index_entries; j-- > 1;) {
                const auto& e = sh->entries[j];
                if (e.seq_plus_one != 0 && e.created < time_ns && e.seq_plus_one - 1 >= at_seq &&
                    entry_ok(best, e, e.seq_plus_one - 1, tail.pos)) {
                    at_seq = e.seq_plus_one - 1;
                    at_pos = e.pos;
                    break;
                }
            }
        }
        // Walk to the first record created at or after the time.
        for (;;) {
            const std::byte* data = segment_data(at_pos / D);
            if (data == nullptr)
                break;
            const auto f = detail::check_frame(data, D, at_pos % D, at_seq, rules());
            if (f.kind == detail::frame_check::unwritten || f.kind == detail::frame_check::bad)
                break;
            if (f.kind == detail::frame_check::record &&
                detail::header_of(data + at_pos % D).created >= time_ns)
                break;
            at_seq = f.next_seq;
            at_pos = at_pos - at_pos % D + f.next_offset;
        }
        return {at_seq, at_pos};
    }

    // Steps from (at_seq, at_pos) over frames until the record `seq` (or the
    // first published one after it, or the end of what is published).
    void walk_to(std::uint64_t seq, std::uint64_t& at_seq, std::uint64_t& at_pos) const {
        const auto D = m_->data_size;
        while (at_seq < seq || is_padding(at_pos)) {
            const std::byte* data = segment_data(at_pos / D);
            if (data == nullptr)
                return;
            const auto f = detail::check_frame(data, D, at_pos % D, at_seq, rules());
            if (f.kind == detail::frame_check::unwritten)
                return;
            if (f.kind == detail::frame_check::bad)
                throw corrupt_at(at_pos, f.why);
            at_seq = f.next_seq;
            at_pos = at_pos - at_pos % D + f.next_offset;
        }
    }

    bool is_padding(std::uint64_t pos) const {
        const std::byte* data = segment_data(pos / m_->data_size);
        if (data == nullptr || pos % detail::frame_alignment != 0)
            return false;
        const std::uint32_t word = detail::load_length(data + pos % m_->data_size);
        return (word & detail::frame_committed) && (word & detail::frame_padding);
    }

    std::uint64_t start_seq(const start_position& position) const {
        const std::uint64_t oldest = oldest_seq();
        switch (position.where) {
            case start_position::from::newest:
                return detail::load_position(m_->header->tail).seq;
            case start_position::from::sequence:
                return std::max(position.seq, oldest);
            case start_position::from::time:
                return locate_time(position.time_ns).first;
            case start_position::from::oldest:
                break;
        }
        return oldest;
    }

    detail::frame_rules rules(bool check_crc = true) const noexcept {
        return {m_->header->max_payload, fixed, check_crc};
    }

    error corrupt_at(std::uint64_t pos, const char* why) const {
        return error(errc::corrupt,
                     "mapped_log '" + m_->name + "' has " + why + " at byte " +
                         std::to_string(pos % m_->data_size) + " of segment " +
                         std::to_string(pos / m_->data_size) +
                         " (modified outside omstream?); close every handle and open it again to "
                         "cut the log there");
    }

    // --- consuming ---

    // Makes the pending cache start at the group's position `next`.
    void follow(std::uint64_t next) {
        auto& l = *local_;
        if (l.have_pending && next == l.pend_seq)
            return;
        if (l.have_pending && next > l.pend_seq && next <= l.front_seq) {
            drop_front_until(next);
            if (l.pend_seq == next || l.spans.empty())
                return;
        }
        l.reset();
        const auto [seq, pos] = locate(next);
        l.pend_seq = l.front_seq = seq;
        l.pend_pos = l.front_pos = pos;
        l.have_pending = true;
    }

    // Reads newly published frames after the frontier into the pending
    // spans, about `budget` bytes of them at most, mapping the next segment
    // ahead (map_ahead). A group far behind reads the log in parts, so that
    // its first window does not wait for the whole backlog to be checked
    // (claim() reads on while the emitter needs more to decide).
    void extend(std::uint64_t budget = read_budget) {
        auto& l = *local_;
        const std::uint64_t from_pos = l.front_pos;
        extend_frontier(budget);
        map_ahead(from_pos, l.front_pos, false);
    }

    void extend_frontier(std::uint64_t budget) {
        auto& l = *local_;
        const auto D = m_->data_size;
        const std::uint64_t stop_at = l.front_pos + budget;
        l.front_short = false;
        l.front_bad = nullptr;
        for (;;) {
            if (l.front_pos >= stop_at) {
                l.front_short = true;
                break;
            }
            const std::uint64_t k = l.front_pos / D;
            if (k != l.read_k || l.read_data == nullptr) {
                const auto f = map_segment(*m_, k, false);
                if (f)
                    detail::populate_for_reading(*f);  // read through from here
                l.read_data = f ? f->base + detail::segment_header_bytes : nullptr;
                l.read_k = k;
            }
            std::byte* data = l.read_data;
            if (data == nullptr)
                break;  // not created yet, or deleted by retention (the claim moves past it)
            const std::size_t off = l.front_pos % D;
            const bool verified =
                l.front_pos >= m_->header->verified_from && l.front_pos < m_->header->verified_to;
            const auto f = detail::check_frame(data, D, off, l.front_seq, rules(!verified));
            if (f.kind == detail::frame_check::unwritten) {
                if (!writer_gone(l.front_pos))
                    break;
                recover_claim(l.front_seq, l.front_pos);
                continue;
            }
            l.stuck.clear();
            if (f.kind == detail::frame_check::bad) {
                // The records before it are sound: windows the emitter can
                // decide without it are delivered first (claim()).
                if (l.pend_count == 0)
                    throw corrupt_at(l.front_pos, f.why);
                l.front_bad = f.why;
                break;
            }
            if (f.kind == detail::frame_check::padding) {
                if (l.pend_count == 0) {  // nothing pending yet: start after it
                    l.pend_seq = f.next_seq;
                    l.pend_pos = k * D + f.next_offset;
                }
                l.front_seq = f.next_seq;
                l.front_pos = k * D + f.next_offset;
                continue;
            }
            const std::byte* frame = data + off;
            if (!l.spans.empty() && l.spans.back().last == frame) {
                l.spans.back().last = data + f.next_offset;
                ++l.spans.back().count;
            } else {
                l.spans.push_back({frame, data + f.next_offset, 1, l.pend_count, 0});
            }
            ++l.pend_count;
            l.front_seq = f.next_seq;
            l.front_pos = k * D + f.next_offset;
        }
    }

    // Moves the first `count` pending records into `out` (a window's spans).
    void take_front(std::size_t count, std::vector<detail::frame_span>& out) {
        auto& l = *local_;
        out.clear();
        std::size_t left = count;
        std::size_t spans_used = 0;
        for (auto& s : l.spans) {
            if (left == 0)
                break;
            if (s.count <= left) {
                out.push_back({s.first, s.last, s.count, count - left, 0});
                left -= s.count;
                ++spans_used;
                continue;
            }
            const std::byte* p = s.first;
            for (std::size_t i = 0; i < left; ++i)
                p += detail::stride_of(p);
            out.push_back({s.first, p, left, count - left, 0});
            s.first = p;
            s.count -= left;
            s.first_index += left;
            left = 0;
        }
        l.spans.erase(l.spans.begin(), l.spans.begin() + static_cast<std::ptrdiff_t>(spans_used));
        l.pend_count -= count;
        for (auto& s : l.spans)
            s.first_index -= count;
        settle_front();
    }

    // Drops pending records below `next` (another member took them).
    void drop_front_until(std::uint64_t next) {
        auto& l = *local_;
        std::size_t dropped = 0;
        while (!l.spans.empty()) {
            auto& s = l.spans.front();
            if (detail::header_of(s.first).seq >= next)
                break;
            s.first += detail::stride_of(s.first);
            --s.count;
            ++s.first_index;
            ++dropped;
            if (s.count == 0)
                l.spans.erase(l.spans.begin());
        }
        l.pend_count -= dropped;
        for (auto& s : l.spans)
            s.first_index -= dropped;
        settle_front();
    }

    // Points (pend_seq, pend_pos) at the first pending record.
    void settle_front() {
        auto& l = *local_;
        if (l.spans.empty()) {
            l.pend_seq = l.front_seq;
            l.pend_pos = l.front_pos;
            return;
        }
        const std::byte* first = l.spans.front().first;
        l.pend_seq = detail::header_of(first).seq;
        const auto D = m_->data_size;
        // Position: the segment of the span, found from the mapping it lives
        // in (nearly always the one the reader is in).
        if (l.read_data != nullptr && first >= l.read_data && first < l.read_data + D) {
            l.pend_pos = l.read_k * D + static_cast<std::uint64_t>(first - l.read_data);
            return;
        }
        std::lock_guard lock(m_->mutex);
        for (const auto& [k, f] : m_->segments) {
            const std::byte* data = f->base + detail::segment_header_bytes;
            if (first >= data && first < data + D) {
                l.pend_pos = k * D + static_cast<std::uint64_t>(first - data);
                return;
            }
        }
    }

    // Whether the emitter's last `wait` still holds, from two words: the
    // group state did not move, the frame where reading stopped is still
    // unwritten, the emitter's deadline has not come, and no other member's
    // window is out (those need checks for dead members). Every 8th poll
    // takes the full path anyway, which looks after a dead producer's claim.
    // It also asks for the rest of the watched frame (prefetch_frame_rest),
    // for fixed-size records: a variable frame's size is unknown until its
    // length word is written.
    bool still_idle(const group_handle& me, const detail::lazy_now& now) noexcept {
        auto& l = *local_;
        if (!l.idle.valid || ++l.idle.polls % 8 == 0 || l.others_out || l.read_data == nullptr ||
            l.front_pos / m_->data_size != l.read_k)
            return false;
        const std::byte* frame = l.read_data + l.front_pos % m_->data_size;
        if (detail::load_length(frame) != 0)
            return false;
        if constexpr (fixed)
            detail::prefetch_frame_rest(frame, detail::frame_size(codec<T>::fixed_size));
        return me.group->current.load(std::memory_order_acquire) == l.idle.current &&
               !now.passed(l.idle.deadline_ns);
    }

    // Whether the claim at `pos` is stuck because its writer died. The tail
    // and the producers' intents are read only once the frame has stayed
    // unwritten for a while (detail::stuck_watch).
    bool writer_gone(std::uint64_t pos) {
        auto& l = *local_;
        if (!l.stuck.long_enough(pos))
            return false;
        if (pos >= detail::load_position(m_->header->tail).pos) {
            l.stuck.clear();
            return false;  // nothing claimed here yet
        }
        return no_live_writer_at(pos);
    }

    // Whether no live producer's claim starts at `pos` (claimed already).
    bool no_live_writer_at(std::uint64_t pos) const {
        for (auto& p : m_->header->producers) {
            const std::uint64_t token = p.token.load(std::memory_order_acquire);
            if (token == 0 || !covers(*m_, p, pos))
                continue;
            if (detail::process_alive(static_cast<std::uint32_t>(token),
                                      p.start_time.load(std::memory_order_relaxed)))
                return false;
        }
        return true;
    }

    // Gives up the claim of a dead writer that starts at (seq, pos): its
    // frames become padding (counted), so nobody waits for them. False when
    // no intent names the claim: a writer dying between its claim and its
    // intent is impossible (the intent comes first), so wait longer.
    bool recover_claim(std::uint64_t seq, std::uint64_t pos) {
        const detail::log_intent* found = intent_of_claim(*m_, seq, pos);
        if (found == nullptr)
            return false;
        pad_claim(*m_, seq, pos, *found);
        local_->stuck.clear();
        return true;
    }

    // The producer intent that names the claim starting at (seq, pos), or
    // nullptr when none or several do.
    static const detail::log_intent* intent_of_claim(detail::log_mapping& m, std::uint64_t seq,
                                                     std::uint64_t pos) {
        const detail::log_intent* found = nullptr;
        int candidates = 0;
        for (auto& p : m.header->producers) {
            if (p.seq_from.load(std::memory_order_acquire) != seq || !covers(m, p, pos))
                continue;
            if (p.confirmed.load(std::memory_order_acquire) ==
                p.pos_from.load(std::memory_order_acquire) + 1)
                return &p;
            found = &p;
            ++candidates;
        }
        return candidates == 1 ? found : nullptr;
    }

    // Whether a frame at `pos` or after it, before `end`, was published,
    // stepping over unwritten claims that producers' intents name (at
    // recovery, everyone is gone: they are all dead).
    static bool published_from(detail::log_mapping& m, std::uint64_t pos, std::uint64_t end) {
        const auto D = m.data_size;
        while (pos < end) {
            const auto f = map_segment(m, pos / D, false);
            if (!f)
                return false;
            if (detail::load_length(f->base + detail::segment_header_bytes + pos % D) != 0)
                return true;
            const detail::log_intent* next = nullptr;
            for (auto& p : m.header->producers)
                if (covers(m, p, pos) && p.pos_to.load() > pos)
                    next = &p;
            if (next == nullptr)
                return false;
            pos = next->pos_to.load();
        }
        return false;
    }

    // Turns the unwritten frames of the claim `p` (a dead writer's, or ours
    // that a codec failed), from (seq, pos) on, into padding and counts its
    // records as skipped (a claim may skip the rest of a segment first, then
    // continue in the next one).
    static void pad_claim(detail::log_mapping& m, std::uint64_t seq, std::uint64_t pos,
                          const detail::log_intent& p) {
        const std::uint64_t seq_to = p.seq_to.load(std::memory_order_acquire);
        const std::uint64_t pos_to = p.pos_to.load(std::memory_order_acquire);
        const auto D = m.data_size;
        std::uint64_t at = pos;
        while (at < pos_to) {
            const std::uint64_t end = std::min<std::uint64_t>(pos_to, (at / D + 1) * D);
            std::byte* data = map_segment(m, at / D, true)->base + detail::segment_header_bytes;
            std::byte* frame = data + at % D;
            const auto bytes = static_cast<std::uint32_t>(end - at);
            const std::uint64_t next = end == pos_to ? seq_to : seq;
            if (bytes >= detail::padding_with_seq) {
                auto& h = *reinterpret_cast<detail::frame_header*>(frame);
                std::atomic_ref(h.seq).store(next, std::memory_order_relaxed);
                std::atomic_ref(h.checksum)
                    .store(detail::padding_checksum(next, bytes), std::memory_order_relaxed);
            }
            // The claim's later frames may be published, with index entries:
            // a seek that trusted one would land inside the padding, on
            // records given up. The index is a hint: forget those entries,
            // before the padding appears.
            for (auto& e : m.segment_of(map_segment(m, at / D, true))->entries) {
                const std::uint64_t entry_pos =
                    std::atomic_ref(e.pos).load(std::memory_order_relaxed);
                if (entry_pos > at && entry_pos < end)
                    std::atomic_ref(e.seq_plus_one).store(0, std::memory_order_release);
            }
            std::uint32_t expected = 0;
            const std::uint32_t padding = detail::frame_committed | detail::frame_padding | bytes;
            detail::length_word(frame).compare_exchange_strong(expected, padding,
                                                               std::memory_order_acq_rel);
            at = end;
        }
        m.header->skipped.fetch_add(seq_to - seq, std::memory_order_relaxed);
    }

    // Spans over the `count` records of a window taken over, from its first.
    claim_type hand_out(const detail::shared_window& w, detail::claim_buffers& buffers) {
        local_->reset();  // our pending cache is ahead of this window
        auto [seq, pos] = locate(w.first_seq);
        auto& out = buffers.window;
        out.clear();
        const auto D = m_->data_size;
        std::size_t n = 0;
        while (n < w.count) {
            std::byte* data = segment_data(pos / D);
            if (data == nullptr)
                break;
            const auto f = detail::check_frame(data, D, pos % D, seq, rules());
            if (f.kind == detail::frame_check::unwritten)
                break;
            if (f.kind == detail::frame_check::bad)
                throw corrupt_at(pos, f.why);
            if (f.kind == detail::frame_check::record) {
                const std::byte* frame = data + pos % D;
                if (!out.empty() && out.back().last == frame) {
                    out.back().last = data + f.next_offset;
                    ++out.back().count;
                } else {
                    out.push_back({frame, data + f.next_offset, 1, n, 0});
                }
                ++n;
            }
            seq = f.next_seq;
            pos = pos - pos % D + f.next_offset;
        }
        return {true, omstream::window<T>(out, n, w.created_ns, w.first_seq), w.first_seq};
    }

    // --- producing ---

    // Who claims plainly (detail/sole_producer.hpp): pos_from and pos_to bound a claim.
    static detail::sole_producer<detail::log_intent, &detail::log_intent::pos_from,
                                 &detail::log_intent::pos_to>
    sole_claims(detail::log_header& h) noexcept {
        return {h.sole, h.producers};
    }

    int producer_slot() {
        if (local_->producer >= 0)
            return local_->producer;
        const auto me = detail::process_id::self();
        auto& h = *m_->header;
        for (std::size_t i = 0; i < detail::log_max_producers; ++i) {
            auto& p = h.producers[i];
            std::uint64_t token = p.token.load(std::memory_order_acquire);
            if (token != 0 && detail::process_alive(static_cast<std::uint32_t>(token),
                                                    p.start_time.load(std::memory_order_relaxed)))
                continue;
            // A dead writer's claim that nobody has given up yet stays visible.
            if (token != 0 && claim_open(p))
                continue;
            if (!p.token.compare_exchange_strong(token, me.pid, std::memory_order_acq_rel))
                continue;
            p.start_time.store(me.start_time, std::memory_order_relaxed);
            p.pos_from.store(0, std::memory_order_relaxed);
            p.pos_to.store(0, std::memory_order_relaxed);
            local_->producer = static_cast<int>(i);
            local_->sole_id = detail::sole_id(i, me.pid);
            return local_->producer;
        }
        throw error(errc::full, "mapped_log '" + m_->name + "' has " +
                                    std::to_string(detail::log_max_producers) +
                                    " live producer handles already; share handles within a "
                                    "process");
    }

    // Whether the intent names a claim with its padding or its first record
    // still unpublished.
    bool claim_open(const detail::log_intent& p) {
        const std::uint64_t from = p.pos_from.load(std::memory_order_acquire);
        const std::uint64_t to = p.pos_to.load(std::memory_order_acquire);
        if (from >= to)
            return false;
        if (from >= detail::load_position(m_->header->tail).pos)
            return false;  // never claimed
        auto unpublished = [&](std::uint64_t pos) {
            const std::byte* data = segment_data(pos / m_->data_size);
            return data != nullptr && detail::load_length(data + pos % m_->data_size) == 0;
        };
        const std::uint64_t first = first_record_of_claim(*m_, from, to);
        return unpublished(from) || (first != from && unpublished(first));
    }

    // Where the records of a claim of [from, to) start: at `from`, or, when
    // they did not fit the rest of that segment, at the next one (the rest
    // is padding, published first).
    static std::uint64_t first_record_of_claim(const detail::log_mapping& m, std::uint64_t from,
                                               std::uint64_t to) noexcept {
        const std::uint64_t next_segment = (from / m.data_size + 1) * m.data_size;
        return to > next_segment ? next_segment : from;
    }

    // Whether a reader waiting at `pos` waits for the claim the intent names:
    // at its start, or, past the padding it published, at its first record.
    static bool covers(const detail::log_mapping& m, const detail::log_intent& p,
                       std::uint64_t pos) noexcept {
        const std::uint64_t from = p.pos_from.load(std::memory_order_acquire);
        const std::uint64_t to = p.pos_to.load(std::memory_order_acquire);
        return from < to && (pos == from || pos == first_record_of_claim(m, from, to));
    }

    std::byte* producer_segment(std::uint64_t k) {
        if (local_->segment_k != k) {
            local_->segment_base = map_segment(*m_, k, true)->base;
            local_->segment_k = k;
        }
        return local_->segment_base;
    }

    template <class Range, class Stamp>
    bool put(const Range& records, Stamp&& stamp, std::chrono::nanoseconds wait_limit,
             bool try_only) {
        detail::own_for_producing(*local_);
        if (local_->sync_failed.load(std::memory_order_relaxed)) [[unlikely]]
            throw_sync_error();
        if (m_->durability.every.count() != 0 && local_->syncer == nullptr && !local_->no_syncer)
            [[unlikely]]
            start_syncer(m_->durability.every);
        auto& h = *m_->header;
        const std::size_t n = static_cast<std::size_t>(std::ranges::distance(records));
        if (n == 0)
            return true;
        const auto D = m_->data_size;
        std::uint64_t bytes = 0;
        if constexpr (fixed) {
            bytes = n * detail::frame_size(codec<T>::fixed_size);
        } else {
            for (const auto& r : records) {
                const std::size_t encoded = codec<T>::encoded_size(r);
                if (encoded > h.max_payload)
                    throw error(errc::record_too_large,
                                "a record of " + std::to_string(encoded) +
                                    " bytes does not fit the " + std::to_string(h.max_payload) +
                                    "-byte max_record_size of mapped_log '" + m_->name +
                                    "'; create the log with a larger om::max_record_size");
                bytes += detail::frame_size(encoded);
            }
        }
        if (bytes > D)
            throw error(errc::record_too_large,
                        "a batch of " + std::to_string(n) + " records (" + std::to_string(bytes) +
                            " bytes) does not fit one segment of mapped_log '" + m_->name + "' (" +
                            std::to_string(D) +
                            " bytes); append it in smaller batches or use a larger segment_size");
        if (h.capacity != 0 && n > h.capacity)
            throw error(errc::record_too_large, "a batch of " + std::to_string(n) +
                                                    " records exceeds the capacity of "
                                                    "mapped_log '" +
                                                    m_->name + "'; append it in smaller batches");
        const auto slot = static_cast<std::size_t>(producer_slot());
        auto& me = h.producers[slot];
        const auto sole = sole_claims(h);
        using claim = std::remove_cvref_t<decltype(sole)>::claim;
        std::chrono::steady_clock::time_point give_up{};
        detail::log_position t = detail::load_position(h.tail);
        detail::log_position next{};
        std::uint64_t at = 0;
        for (;;) {
            if (h.capacity != 0 && t.seq + n > local_->low_cache + h.capacity) {
                local_->low_cache = detail::lowest_committed(m_->header->groups);
                if (t.seq + n > local_->low_cache + h.capacity) {
                    // No claim in flight while we wait (sole_producer waits for those).
                    me.pos_to.store(me.pos_from.load(std::memory_order_relaxed),
                                    std::memory_order_release);
                    if (try_only)
                        return false;
                    wait_for_room(n, wait_limit, give_up);
                    t = detail::load_position(h.tail);
                    continue;
                }
            }
            const std::uint64_t off = t.pos % D;
            at = off + bytes <= D ? t.pos : t.pos - off + D;
            next = {t.seq + n, at + bytes};
            // The segments must exist before we claim space in them (a full
            // disk fails here, with nothing claimed).
            producer_segment(at / D);
            if (at != t.pos)
                map_segment(*m_, t.pos / D, true);
            // Say what we claim before we claim it (see recover_claim).
            me.seq_from.store(t.seq, std::memory_order_relaxed);
            me.seq_to.store(next.seq, std::memory_order_relaxed);
            me.pos_to.store(next.pos, std::memory_order_relaxed);
            me.pos_from.store(t.pos, std::memory_order_release);
            const claim how = sole.how(local_->sole_id);
            if (how == claim::plain) {
                detail::store_position(h.tail, next);  // nobody else claims
                break;
            }
            if (how == claim::shared) {
                if (detail::compare_exchange(h.tail, t, next))
                    break;
                // Withdrawn: the segment calls above may throw before the next try.
                me.pos_to.store(me.pos_from.load(std::memory_order_relaxed),
                                std::memory_order_release);
                continue;
            }
            me.pos_to.store(t.pos, std::memory_order_release);  // withdrawn while the word settles
            sole.settle(slot, local_->sole_id, detail::atomic_position_store());
            t = detail::load_position(h.tail);
        }
        me.confirmed.store(t.pos + 1, std::memory_order_release);
        if (at != t.pos)
            pad_segment_end(t);
        const std::int64_t created_ns = stamp();
        try {
            write(records, t.seq, at, created_ns);
        } catch (...) {
            // A codec threw: give the claim up as padding (counted), or
            // readers would wait for it as long as this process lives.
            pad_claim(*m_, t.seq, at, me);
            me.pos_from.store(next.pos, std::memory_order_release);
            detail::host_wait_word(h.consumers).wake();
            throw;
        }
        me.pos_from.store(next.pos, std::memory_order_release);  // published: nothing to watch
        detail::host_wait_word(h.consumers).wake();
        after_write(t, next, n, created_ns);
        return true;
    }

    // The rest of a segment that a claim skipped.
    void pad_segment_end(const detail::log_position& t) {
        const auto D = m_->data_size;
        std::byte* frame =
            map_segment(*m_, t.pos / D, true)->base + detail::segment_header_bytes + t.pos % D;
        const auto bytes = static_cast<std::uint32_t>(D - t.pos % D);
        if (bytes >= detail::padding_with_seq) {
            auto& h = *reinterpret_cast<detail::frame_header*>(frame);
            h.seq = t.seq;
            h.checksum = detail::padding_checksum(t.seq, bytes);
        }
        detail::length_word(frame).store(detail::frame_committed | detail::frame_padding | bytes,
                                         std::memory_order_release);
    }

    template <class Range>
    void write(const Range& records, std::uint64_t first_seq, std::uint64_t at,
               std::int64_t created_ns) {
        const auto D = m_->data_size;
        const std::uint64_t k = at / D;
        std::byte* base = producer_segment(k);
        auto* sh = reinterpret_cast<detail::segment_header*>(base);
        std::byte* data = base + detail::segment_header_bytes;
        // Index blocks: D / 512 bytes each (512 = 2^9).
        const unsigned block_shift = D.shift - 9;
        static_assert(detail::segment_index_entries == 512);
        std::uint64_t off = at % D;
        std::uint64_t seq = first_seq;
        std::byte* first_frame = data + off;
        std::uint32_t first_word = 0;
        if (off == 0) {
            sh->entries[0].pos = at;
            sh->entries[0].created = created_ns;
            std::atomic_ref(sh->entries[0].seq_plus_one).store(seq + 1, std::memory_order_release);
        }
        for (const auto& r : records) {
            std::byte* frame = data + off;
            const std::size_t length = fixed ? codec<T>::fixed_size : codec<T>::encoded_size(r);
            auto* header = reinterpret_cast<detail::frame_header*>(frame);
            header->seq = seq;
            header->created = created_ns;
            codec<T>::encode(r, frame + sizeof(detail::frame_header));
            header->checksum = detail::frame_checksum(*header, static_cast<std::uint32_t>(length));
            const std::uint32_t word = detail::frame_committed | static_cast<std::uint32_t>(length);
            const std::uint64_t end = off + detail::frame_size(length);
            // The sparse index: the frame after this one starts a new block.
            if ((end >> block_shift) != (off >> block_shift) && end < D) {
                auto& e = sh->entries[end >> block_shift];
                e.pos = k * D + end;
                e.created = created_ns;
                std::atomic_ref(e.seq_plus_one).store(seq + 2, std::memory_order_release);
            }
            if (frame == first_frame) {
                first_word = word;
            } else {
                detail::length_word(frame).store(word, std::memory_order_release);
            }
            off = end;
            ++seq;
        }
        detail::length_word(first_frame).store(first_word, std::memory_order_release);
    }

    void wait_for_room(std::size_t n, std::chrono::nanoseconds wait_limit,
                       std::chrono::steady_clock::time_point& give_up) {
        auto& h = *m_->header;
        auto room = [&] {
            return detail::load_position(h.tail).seq + n <=
                   detail::lowest_committed(h.groups) + h.capacity;
        };
        detail::wait_for_room(room, h.space, h.consumers, wait_limit, give_up, [&] {
            throw error(errc::full, "mapped_log '" + m_->name + "' stayed full (capacity " +
                                        std::to_string(h.capacity) +
                                        " records unprocessed by its slowest group) for the "
                                        "whole timeout; consume faster or raise the capacity");
        });
    }

    // Durability and retention after an append. The common case (no sync
    // policy, within a segment's quarter) is a few compares, kept inline.
    void after_write(const detail::log_position& from, const detail::log_position& to,
                     std::size_t n, std::int64_t now_ns) {
        const sync_policy& policy = m_->durability;
        if (policy.always || policy.every_records != 0 || policy.every.count() != 0) [[unlikely]]
            sync_after_write(from, to, n);
        const auto D = m_->data_size;
        if (from.pos / D != to.pos / D || to.pos % D == 0) [[unlikely]] {
            retire(now_ns);  // a new segment: maybe an old one can go
            prune_segments();
        }
        const unsigned quarter = D.shift - 2;
        if ((from.pos >> quarter) != (to.pos >> quarter)) [[unlikely]]
            map_ahead(from.pos, to.pos, true);
    }

    [[gnu::noinline]] void sync_after_write(const detail::log_position& from,
                                            const detail::log_position& to, std::size_t n) {
        const sync_policy& policy = m_->durability;
        if (policy.always) {
            sync_range(from.pos, to.pos);
            // On disk from the checkpoint to `to` (when the checkpoint was at
            // `from`): recovery need not check it. The header itself is
            // synced only by checkpoint(): a stale one just checks more.
            detail::log_position cp = from;
            detail::compare_exchange(m_->header->checkpoint, cp, to);
            return;
        }
        if (policy.every_records != 0) {
            local_->unsynced += n;
            if (local_->unsynced >= policy.every_records) {
                checkpoint();
                local_->unsynced = 0;
            }
        }
        if (policy.every.count() != 0) {
            // Release: the syncer that sees it sees the records too.
            local_->dirty.store(true, std::memory_order_release);
            if (local_->no_syncer) [[unlikely]] {
                const auto now = std::chrono::steady_clock::now();
                if (now - local_->last_sync >= policy.every) {
                    checkpoint();
                    local_->last_sync = now;
                }
            }
        }
    }

    // Before the first append's claim, so that a failure to start it never
    // follows a published record.
    void start_syncer(std::chrono::nanoseconds every) {
        local_state* l = local_.get();  // outlives the thread: its destructor stops it first
        try {
            local_->syncer = std::make_unique<detail::periodic_thread>(every, [l, m = m_] {
                if (!l->dirty.exchange(false, std::memory_order_acq_rel))
                    return;
                try {
                    mapped_log(m).checkpoint();
                } catch (...) {
                    l->dirty.store(true, std::memory_order_relaxed);  // the close tries again
                    std::lock_guard lock(l->sync_error_mutex);
                    if (!l->sync_error)
                        l->sync_error = std::current_exception();
                    l->sync_failed.store(true, std::memory_order_relaxed);
                }
            });
        } catch (const std::system_error&) {  // no thread to be had (a limit): sync at appends
            local_->no_syncer = true;
            local_->last_sync = std::chrono::steady_clock::now();
        }
    }

    [[noreturn, gnu::cold]] void throw_sync_error() {
        std::lock_guard lock(local_->sync_error_mutex);
        std::string what = "unknown error";
        try {
            std::rethrow_exception(local_->sync_error);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        throw error(errc::io_error, "the periodic sync of mapped_log '" + m_->name + "' failed (" +
                                        what +
                                        "): records appended before this call may not be on "
                                        "disk, and this call appended nothing; check the disk, "
                                        "then call sync() (it throws while the disk fails) or "
                                        "reopen the log");
    }

    // msync of the frames in [from, to) (they may span segments).
    void sync_range(std::uint64_t from, std::uint64_t to) {
        const auto D = m_->data_size;
        constexpr std::uint64_t page = 4096;
        while (from < to) {
            const std::uint64_t k = from / D;
            const std::uint64_t end = std::min<std::uint64_t>(to, (k + 1) * D);
            auto f = map_segment(*m_, k, false);
            if (f) {
                const std::uint64_t a = (detail::segment_header_bytes + from % D) & ~(page - 1);
                const std::uint64_t b = detail::segment_header_bytes + (end - k * D);
                if (::msync(f->base + a, b - a, MS_SYNC) != 0)
                    detail::throw_errno(errno, "syncing mapped_log '" + m_->name + "'");
            }
            from = end;
        }
    }

    // Syncs everything published from the checkpoint on and moves the
    // checkpoint past it (recovery checks only what comes after).
    void checkpoint() {
        auto& h = *m_->header;
        const auto D = m_->data_size;
        detail::log_position cp = detail::load_position(h.checkpoint);
        detail::log_position at = cp;
        if (at.pos / D < h.oldest_segment.load()) {
            at.pos = h.oldest_segment.load() * D;
            at.seq = oldest_seq();
        }
        // Holds each segment's mapping while it reads it: another thread's
        // handle may drop a segment that retention deletes meanwhile.
        std::shared_ptr<detail::mapped_file> segment;
        std::uint64_t segment_k = no_pos;
        for (;;) {
            if (at.pos / D != segment_k) {
                segment_k = at.pos / D;
                segment = map_segment(*m_, segment_k, false);
            }
            if (!segment)
                break;
            const auto f = detail::check_frame(segment->base + detail::segment_header_bytes, D,
                                               at.pos % D, at.seq, rules());
            if (f.kind != detail::frame_check::record && f.kind != detail::frame_check::padding)
                break;
            at.seq = f.next_seq;
            at.pos = at.pos - at.pos % D + f.next_offset;
        }
        sync_range(cp.pos, at.pos);
        while (cp.pos < at.pos && !detail::compare_exchange(h.checkpoint, cp, at)) {
        }
        ::msync(m_->header_file->base, 4096, MS_SYNC);
    }

    // Deletes the oldest segments that every group has processed (unless
    // keep), or that are past max_age or over max_bytes. Ages are measured
    // at `now_ns` on the clock that stamps the records (the emitter's: a
    // producer passes its latest stamp, a consumer the time it claims at);
    // no_age_check where neither is at hand.
    static constexpr std::int64_t no_age_check = std::numeric_limits<std::int64_t>::min();
    void retire(std::int64_t now_ns) {
        auto& h = *m_->header;
        const auto D = m_->data_size;
        for (;;) {
            std::uint64_t k = h.oldest_segment.load(std::memory_order_acquire);
            const std::uint64_t newest = detail::load_position(h.tail).pos / D;
            if (k >= newest)
                return;
            const auto next_first = first_seq_in(*m_, k + 1);
            auto* next_header = segment_header_of(k + 1);
            if (!next_first || next_header == nullptr)
                return;
            bool any_group = false;
            for (auto& g : h.groups.groups)
                any_group =
                    any_group || detail::holds_records(g.status.load(std::memory_order_acquire));
            const bool processed =
                !settings_keep() && any_group && detail::lowest_committed(h.groups) >= *next_first;
            const bool aged = h.max_age_ns > 0 && now_ns != no_age_check &&
                              next_header->entries[0].seq_plus_one != 0 &&
                              next_header->entries[0].created < now_ns - h.max_age_ns;
            const bool over = h.max_bytes > 0 && (newest - k + 1) * m_->file_size > h.max_bytes;
            if (!processed && !aged && !over)
                return;
            if (!h.oldest_segment.compare_exchange_strong(k, k + 1, std::memory_order_acq_rel))
                continue;
            if (!processed) {
                const std::uint64_t first = first_seq_in(*m_, k).value_or(*next_first);
                const std::uint64_t low = detail::lowest_committed(h.groups);
                if (low < *next_first)
                    h.deleted.fetch_add(*next_first - std::max(first, low),
                                        std::memory_order_relaxed);
            }
            std::error_code ec;
            std::filesystem::remove(m_->segment_path(k), ec);
        }
    }

    std::shared_ptr<detail::log_mapping> m_;
    std::shared_ptr<local_state> local_;
};

}  // namespace omstream
