// libFuzzer target (tracker issue 4): arbitrary bytes as a mapped_log
// segment, fed to the recovery and reader code. Built and run by
// tests/fuzz/run.sh with clang-19 -fsanitize=fuzzer,address,undefined.
//
// Each input is a 12-byte configuration, then bytes:
//   c[0]     flags: 1 the std::uint64_t log (else std::string); 2 lay the
//            bytes over the segment as appended (else over zeros); 4 patch
//            the segment header too; 8 move the checkpoint; 16 write the
//            bytes into segment 1 (else 0); 96 window size {1, 2, 7, 64};
//            128 read buffer() before draining (else after)
//   c[1..2]  where the bytes go in the segment's data (8-byte units; overlay)
//   c[3]     (a) max_payload (low 3 bits) and start sequence (high bits)
//   c[4..5]  segment header patch offset; c[6] its length - 1 (the patch
//            bytes come first after the configuration)
//   c[7..9]  checkpoint: which frame end of the log as appended
//   c[10]    (a) start offset (8-byte units)
//   c[11]    records appended after recovery - 1 (low 3 bits; 8: as one
//            batch), and where a second group starts (c[11] / 255 of the log)
// Part (a) runs detail::scan_segment straight over the bytes and checks what
// it returns; part (b) writes them into a real log made once per process
// (std::string: two segments of 64 KiB; std::uint64_t: one), opens it with
// stream<mapped_log<T>>::open (which recovers it: nobody else holds it),
// drains it with poll(), and reads metadata() and buffer(). When the segment
// headers are intact and the checkpoint is 0, what it reads must match an
// independent walk of the frames, records appended after recovery must come
// out next, and a second group started at from_seq(n) must get exactly the
// records from n on. omstream::error is an acceptable answer to corrupt
// bytes; a crash, a sanitizer report, another exception, a hang or a broken
// invariant is a bug (abort, so that libFuzzer saves the input).
//
// OMSTREAM_FUZZ_WRITE_CORPUS=<dir> ./segment_fuzz      writes the seed corpus and exits.
// OMSTREAM_FUZZ_WRITE_REPRODUCERS=<dir> ./segment_fuzz writes crafted inputs for known bugs.
// OMSTREAM_FUZZ_SKIP=stale_index,short_fixed,...      tolerates known bugs (crashes/README.md).
// OMSTREAM_FUZZ_STATS=1                               prints how often recovery cut the log.
// OMSTREAM_FUZZ_TMP=<dir>                             where the scratch log root goes (/tmp).
#include <omstream/stream.hpp>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace om = omstream;
namespace d = omstream::detail;

namespace {

constexpr std::size_t config_bytes = 12;
constexpr std::size_t D = 65536;  // segment_data of the logs fuzzed
constexpr std::size_t H = d::segment_header_bytes;
constexpr std::size_t max_segments = 2;  // segments 0 and 1 (the std::uint64_t log: 0 only)

enum flag : std::uint8_t {
    f_u64 = 1,
    f_overlay = 2,
    f_patch_header = 4,
    f_checkpoint = 8,
    f_segment1 = 16,
    f_window = 32 | 64,
    f_buffer_first = 128,
};
constexpr std::array<std::size_t, 4> window_sizes{1, 2, 7, 64};

std::filesystem::path g_root;  // the scratch root of the logs

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "segment_fuzz: BUG: %s%s%s\n", what, detail.empty() ? "" : ": ",
                 detail.c_str());
    std::fflush(stderr);
    if (!g_root.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(g_root, ec);
    }
    std::abort();
}
#define FUZZ_CHECK(cond, ...)                                \
    do {                                                     \
        if (!(cond))                                         \
            fail("check failed: " #cond, ##__VA_ARGS__);     \
    } while (0)

// OMSTREAM_FUZZ_SKIP=name[,name...]: known library bugs not to report again
// while their fix is pending (see tests/fuzz/crashes/README.md).
bool known_bug_skipped(const char* name) {
    const char* skip = std::getenv("OMSTREAM_FUZZ_SKIP");
    return skip != nullptr && std::strstr(skip, name) != nullptr;
}

std::uint16_t u16(const std::uint8_t* c) { return static_cast<std::uint16_t>(c[0] | c[1] << 8); }

// --- part (a): scan_segment over the raw bytes ----------------------------------

void fuzz_scan(const std::uint8_t* c, const std::uint8_t* bytes, std::size_t size) {
    // An exactly sized heap copy: ASan flags any read past its end.
    std::unique_ptr<std::byte[]> owned(new std::byte[size == 0 ? 1 : size]);
    if (size != 0)
        std::memcpy(owned.get(), bytes, size);
    const std::byte* data = owned.get();

    constexpr std::array<std::size_t, 8> payloads{
        0, 8, 16, 100, 16384, std::size_t{1} << 20, d::frame_length_mask, ~std::size_t{0}};
    constexpr std::array<std::uint64_t, 8> seqs{0, 1, 2, 7, 1000, ~std::uint64_t{0} - 1,
                                                ~std::uint64_t{0}, std::uint64_t{1} << 40};
    const std::size_t max_payload = payloads[c[3] & 7];
    const std::uint64_t seq = seqs[(c[3] >> 3) & 7];
    const std::size_t offset = std::min<std::size_t>(std::size_t{c[10]} * 8, size & ~std::size_t{7});

    const d::segment_scan s = d::scan_segment(data, size, offset, seq, max_payload);
    const std::string at = "size " + std::to_string(size) + " offset " + std::to_string(offset) +
                           " end " + std::to_string(s.end);
    FUZZ_CHECK(s.end >= offset && s.end <= size, at);
    FUZZ_CHECK(s.end % d::frame_alignment == 0, at);
    FUZZ_CHECK(s.complete == (s.end == size), at);
    FUZZ_CHECK(s.records * sizeof(d::frame_header) <= s.end - offset, at);
    FUZZ_CHECK(s.why != nullptr);
    // The same walk, frame by frame, must agree with it.
    std::uint64_t records = 0, next_seq = seq;
    std::size_t pos = offset;
    while (pos < s.end) {
        const auto f = d::check_frame(data, size, pos, next_seq, max_payload);
        FUZZ_CHECK(f.kind == d::frame_check::record || f.kind == d::frame_check::padding, at);
        FUZZ_CHECK(f.next_offset > pos && f.next_offset <= s.end, at);
        records += f.kind == d::frame_check::record;
        if (f.kind == d::frame_check::record) {
            FUZZ_CHECK(d::header_of(data + pos).seq == next_seq, at);
            FUZZ_CHECK(f.next_seq == next_seq + 1, at);
            FUZZ_CHECK(f.next_offset - pos ==
                           d::frame_size(d::load_length(data + pos) & d::frame_length_mask),
                       at);
        } else {
            FUZZ_CHECK(f.next_seq >= next_seq, at);  // padding never moves back
        }
        next_seq = f.next_seq;
        pos = f.next_offset;
    }
    FUZZ_CHECK(pos == s.end && records == s.records && next_seq == s.seq, at);
    if (!s.complete) {
        const auto f = d::check_frame(data, size, s.end, s.seq, max_payload);
        FUZZ_CHECK(f.kind == d::frame_check::unwritten || f.kind == d::frame_check::bad, at);
        FUZZ_CHECK((f.kind == d::frame_check::unwritten) == (*s.why == '\0'), at);
        if (f.kind == d::frame_check::bad)
            FUZZ_CHECK(std::strcmp(f.why, s.why) == 0, at);
    }
    // A larger max_payload accepts everything a smaller one does.
    const d::segment_scan wide = d::scan_segment(data, size, offset, seq, ~std::size_t{0});
    FUZZ_CHECK(wide.end >= s.end && wide.records >= s.records, at);

    // check_frame at every offset near both ends, aligned or not: never out of bounds.
    for (std::size_t o = 0; o < std::min<std::size_t>(size + 9, 72); ++o)
        (void)d::check_frame(data, size, o, seq, max_payload);
    for (std::size_t o = size > 64 ? size - 64 : 0; o < size + 9; ++o)
        (void)d::check_frame(data, size, o, seq, max_payload);

    // CRC-32C: the dispatched version (SSE 4.2) agrees with the table.
    FUZZ_CHECK(d::crc32c(0, data, size) == d::crc32c_portable(0, data, size));
    if (size > 3)
        FUZZ_CHECK(d::crc32c(0x1234, data + 3, size - 3) ==
                   d::crc32c_portable(0x1234, data + 3, size - 3));
}

// --- part (b): the real log --------------------------------------------------

std::string seg_name(std::size_t k) { return d::segment_file_name(k); }

std::vector<std::byte> read_file(const std::filesystem::path& p, std::size_t size) {
    std::vector<std::byte> out(size);
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::pread(fd, out.data(), size, 0) != static_cast<ssize_t>(size))
        fail("cannot read", p.string());
    ::close(fd);
    return out;
}

void write_file(const std::filesystem::path& p, const std::byte* data, std::size_t size) {
    const int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
        fail("cannot write", p.string());
    ::close(fd);
}

// One log made once per process, and how to put it back as it was.
struct pristine_log {
    std::string name;
    std::filesystem::path dir;
    std::size_t segments = 0;                      // files 0 .. segments - 1
    std::vector<std::byte> segment[max_segments];  // header + data, as appended
    std::vector<std::byte> header;             // the log header file
    d::log_header* live = nullptr;             // our own shared mapping of it
    d::log_position tail{};
    std::uint32_t max_payload = 0;
    bool fixed_size = false;  // std::uint64_t records: every payload is 8 bytes
    std::vector<std::size_t> frame_ends[max_segments];  // offsets where frames end
    std::vector<d::log_position> checkpoints;  // every frame end, with its next sequence

    // Puts the header back: the part before the groups, and every group slot
    // that was used (all are free in the pristine log).
    void restore_header() {
        auto* base = reinterpret_cast<std::byte*>(live);
        const std::size_t groups_at = offsetof(d::log_header, groups);
        std::memcpy(base, header.data(), groups_at);
        auto& table = live->groups.groups;
        for (std::size_t i = 0; i < d::shared_max_groups; ++i) {
            if (table[i].status.load(std::memory_order_relaxed) == 0 &&
                table[i].name_length == 0 &&
                table[i].current.load(std::memory_order_relaxed) == 0)
                continue;
            const std::size_t at = groups_at + i * sizeof(d::group_slot);
            std::memcpy(base + at, header.data() + at, sizeof(d::group_slot));
        }
    }
    // Full check that the restore is complete (run now and then).
    void verify_header() {
        if (std::memcmp(live, header.data(), header.size()) != 0) {
            std::size_t i = 0;
            while (reinterpret_cast<std::byte*>(live)[i] == header[i])
                ++i;
            std::fprintf(stderr, "segment_fuzz: header restore missed byte %zu\n", i);
            std::abort();
        }
    }
};

pristine_log g_logs[2];  // 0: std::string, 1: std::uint64_t
std::uint64_t g_inputs = 0, g_opened = 0, g_cut = 0, g_errors = 0, g_open_errors = 0,
              g_records = 0, g_checked = 0, g_known = 0;

template <class T>
constexpr std::size_t log_index = std::is_same_v<T, std::uint64_t> ? 1 : 0;

std::string string_record(std::size_t i) {
    static constexpr std::size_t sizes[] = {0, 1, 5, 8, 13, 24, 100, 250, 1000, 3000, 7, 64, 5000, 2000};
    std::string s(sizes[i % std::size(sizes)], '\0');
    for (std::size_t j = 0; j < s.size(); ++j)
        s[j] = static_cast<char>('a' + (i + j) % 26);
    return s;
}

template <class T>
void make_log(pristine_log& p, const char* name) {
    p.name = name;
    p.dir = g_root / name;
    {
        auto s = om::stream<om::mapped_log<T>>::open(name, om::root = g_root.string(),
                                                     om::segment_size = D);
        // std::string: fill segment 0 (a batch that does not fit leaves padding)
        // and a little of segment 1, in about 80 records. std::uint64_t: 250
        // records in segment 0 (so that a drain stays short).
        std::size_t after = 0;
        for (std::size_t i = 0; after < 4; ++i) {
            if constexpr (std::is_same_v<T, std::uint64_t>) {
                if (s.metadata().appended >= 250)
                    break;
                std::vector<std::uint64_t> batch;
                for (std::size_t b = 0; b <= i % 5; ++b)
                    batch.push_back(s.metadata().appended + b);
                s.append(batch);
            } else if (i % 7 == 3) {
                s.append(std::vector<std::string>{string_record(i), string_record(i + 1)});
            } else {
                s.append(string_record(i));
            }
            if (after > 0 || std::filesystem::exists(p.dir / seg_name(1)))
                ++after;
        }
    }
    p.segments = std::is_same_v<T, std::uint64_t> ? 1 : 2;
    for (std::size_t k = 0; k < p.segments; ++k)
        p.segment[k] = read_file(p.dir / seg_name(k), H + D);
    FUZZ_CHECK(!std::filesystem::exists(p.dir / seg_name(p.segments)));
    p.header = read_file(p.dir / "header", d::log_header_bytes);
    const auto* h = reinterpret_cast<const d::log_header*>(p.header.data());
    p.tail = h->tail;
    p.max_payload = h->max_payload;
    p.fixed_size = std::is_same_v<T, std::uint64_t>;
    FUZZ_CHECK(h->checkpoint.pos == 0 && h->checkpoint.seq == 0);
    // Where frames end, with the sequence number after each: the checkpoints
    // this log could have had.
    std::uint64_t seq = 0;
    for (std::size_t k = 0; k < p.segments; ++k) {
        const std::byte* data = p.segment[k].data() + H;
        for (std::size_t pos = 0; pos < D;) {
            const auto f = d::check_frame(data, D, pos, seq, p.max_payload);
            if (f.kind != d::frame_check::record && f.kind != d::frame_check::padding)
                break;
            seq = f.next_seq;
            pos = f.next_offset;
            p.frame_ends[k].push_back(pos);
            p.checkpoints.push_back({seq, k * D + pos});
        }
    }
    const int fd = ::open((p.dir / "header").c_str(), O_RDWR | O_CLOEXEC);
    void* m = ::mmap(nullptr, d::log_header_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED)
        fail("cannot map the header");
    p.live = static_cast<d::log_header*>(m);
}

void cleanup() {
    if (!g_root.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(g_root, ec);
    }
    if (std::getenv("OMSTREAM_FUZZ_STATS") != nullptr)
        std::fprintf(stderr,
                     "segment_fuzz stats: %" PRIu64 " inputs, %" PRIu64 " opened, %" PRIu64
                     " recovered with a cut (recovery_note), %" PRIu64
                     " refused at open, %" PRIu64 " errors reading, %" PRIu64
                     " records read, %" PRIu64 " inputs fully cross-checked, %" PRIu64
                     " hit a skipped known bug\n",
                     g_inputs, g_opened, g_cut, g_open_errors, g_errors, g_records, g_checked,
                     g_known);
}

void setup() {
    const char* tmp = std::getenv("OMSTREAM_FUZZ_TMP");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                       "/omstream-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
        fail("mkdtemp failed", tmpl);
    g_root = tmpl;
    std::atexit(cleanup);
    make_log<std::string>(g_logs[0], "s");
    make_log<std::uint64_t>(g_logs[1], "u");
}

// Sums a record's bytes (touches every one of them).
std::uint64_t touch(const std::string& s) {
    std::uint64_t sum = s.size();
    for (unsigned char ch : s)
        sum += ch;
    return sum;
}
std::uint64_t touch(std::uint64_t v) { return v; }
std::string bytes_of(const std::string& s) { return s; }
std::string bytes_of(std::uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// What recovery must find in the segments as written (checkpoint 0): the
// sequence numbers of the records, and where the log ends.
struct expectation {
    std::vector<std::uint64_t> seqs;
    std::vector<std::string> payloads;  // the bytes of each record's frame
    std::uint64_t records = 0;
    std::uint64_t seq = 0;
};
expectation expect(const std::vector<std::byte> (&files)[max_segments], std::size_t segments,
                   std::uint32_t max_payload, bool fixed_size) {
    expectation e;
    const d::frame_rules rules{max_payload, fixed_size};
    for (std::size_t k = 0; k < segments; ++k) {
        const std::byte* data = files[k].data() + H;
        const auto s = d::scan_segment(data, D, 0, e.seq, rules);
        for (std::size_t pos = 0; pos < s.end;) {
            const auto f = d::check_frame(data, D, pos, e.seq, rules);
            if (f.kind == d::frame_check::record) {
                e.seqs.push_back(e.seq);
                const auto payload = d::payload_of(data + pos);
                e.payloads.emplace_back(reinterpret_cast<const char*>(payload.data()),
                                        payload.size());
            }
            e.seq = f.next_seq;
            pos = f.next_offset;
        }
        FUZZ_CHECK(e.seq == s.seq);
        if (!s.complete)
            break;
    }
    e.records = e.seqs.size();
    return e;
}

template <class T>
T make_value(std::size_t i) {
    if constexpr (std::is_same_v<T, std::string>)
        return "after recovery " + std::string(i * 5, 'x');
    else
        return 0x5eed + i;
}

template <class T>
void fuzz_log(const std::uint8_t* c, const std::uint8_t* bytes, std::size_t size) {
    pristine_log& p = g_logs[log_index<T>];
    const std::uint8_t flags = c[0];
    const std::size_t segments = p.segments;
    const std::size_t target = (flags & f_segment1) ? segments - 1 : 0;

    // The segment files for this input.
    static std::vector<std::byte> files[max_segments];
    for (std::size_t k = 0; k < segments; ++k) {
        files[k] = p.segment[k];
        if (k == target && !(flags & f_overlay))
            std::fill(files[k].begin() + H, files[k].end(), std::byte{0});
    }
    if (flags & f_patch_header) {
        const std::size_t at = u16(c + 4) % H;
        const std::size_t n = std::min<std::size_t>({std::size_t{c[6]} + 1, size, H - at});
        std::memcpy(files[target].data() + at, bytes, n);
        bytes += n;
        size -= n;
    }
    const std::size_t at = (flags & f_overlay) ? (std::size_t{u16(c + 1)} * 8) % D : 0;
    std::memcpy(files[target].data() + H + at, bytes, std::min(size, D - at));
    for (std::size_t k = 0; k < segments; ++k)
        write_file(p.dir / seg_name(k), files[k].data(), files[k].size());
    for (std::size_t k = segments; k < segments + 2; ++k)
        ::unlink((p.dir / seg_name(k)).c_str());  // made by the append of an earlier input

    // Known bug unchecked_index (tests/fuzz/crashes/README.md): readers take
    // a segment's index entries as they are; one at a position that is not a
    // frame boundary makes them load a length word misaligned, or past the
    // end of the segment. When skipped, such inputs stop here.
    if ((flags & f_patch_header) && known_bug_skipped("unchecked_index")) {
        const auto* sh = reinterpret_cast<const d::segment_header*>(files[target].data());
        for (const auto& e : sh->entries) {
            if (e.seq_plus_one != 0 && e.pos % d::frame_alignment != 0) {
                ++g_known;
                return;
            }
        }
    }

    p.restore_header();
    if ((g_inputs & 1023) == 0)
        p.verify_header();
    const bool checkpoint = flags & f_checkpoint;
    if (checkpoint) {
        // One the log could have had: a frame end (of the frames as appended).
        p.live->checkpoint = p.checkpoints[(u16(c + 7) + std::size_t{c[9]} * 65536) %
                                           p.checkpoints.size()];
    }
    // Everything recovery checked, readers must deliver without complaint.
    bool exact = !checkpoint && !(flags & f_patch_header);
    const expectation expected = exact ? expect(files, segments, p.max_payload, p.fixed_size) : expectation{};
    const std::size_t window = window_sizes[(flags & f_window) >> 5];

    using stream_t = om::stream<om::mapped_log<T>>;
    std::optional<stream_t> s;
    try {
        s.emplace(stream_t::open(p.name, om::root = g_root.string(), om::segment_size = D,
                                 om::size = window));
    } catch (const om::error&) {
        ++g_open_errors;
        FUZZ_CHECK(!exact, "open refused a log whose segment headers are intact");
        return;
    }
    ++g_opened;
    bool had_error = false;
    std::uint64_t buffered = 0;
    auto read_buffer = [&] {
        try {
            for (const auto& e : s->buffer()) {
                buffered += 1;
                (void)touch(e.data);
            }
        } catch (const om::error&) {
            had_error = true;
            ++g_errors;
        }
    };
    const auto md = s->metadata();
    if (!md.recovery_note.empty())
        ++g_cut;
    if (exact) {
        FUZZ_CHECK(md.appended == expected.seq,
                   "appended " + std::to_string(md.appended) + ", recovery should end at " +
                       std::to_string(expected.seq));
    }
    if (flags & f_buffer_first)
        read_buffer();

    // Drain: windows come in order, each record's sequence number above the last.
    std::uint64_t delivered = 0, sum = 0, last_seq = 0;
    bool relaxed = false;
    std::vector<std::uint64_t> seqs_out;
    std::vector<std::string> values_out;
    bool any = false;
    try {
        for (std::size_t polls = 0;; ++polls) {
            FUZZ_CHECK(polls <= D / sizeof(d::frame_header) + 1, "poll() does not run dry");
            const bool got = s->poll([&](const om::window<T>& w) {
                FUZZ_CHECK(w.size() == window, "a count window of the wrong size");
                // Known bug short_fixed (tests/fuzz/crashes/README.md): a
                // fixed-size log takes records of other sizes; the records of
                // a window after a short one are then misplaced.
                if constexpr (om::record_traits<T>::fixed_size) {
                    for (const auto& e : w.entries()) {
                        const auto* payload = reinterpret_cast<const std::byte*>(&e.data());
                        const std::uint32_t length =
                            d::load_length(payload - sizeof(d::frame_header)) &
                            d::frame_length_mask;
                        if (length == om::codec<T>::fixed_size)
                            continue;
                        if (!known_bug_skipped("short_fixed"))
                            fail("a record of the wrong size in a fixed-size log (short_fixed)",
                                 "a std::uint64_t record delivered from a frame of " +
                                     std::to_string(length) + " bytes");
                        relaxed = true;
                        break;
                    }
                    if (relaxed) {  // only crashes count from here on
                        exact = false;
                        for (const auto& r : w)
                            sum += touch(r);
                        delivered += w.size();
                        return;
                    }
                }
                std::size_t n = 0;
                for (const auto& e : w.entries()) {
                    if (n == 0)
                        FUZZ_CHECK(relaxed || e.seq() == w.first_seq(),
                                   "first_seq is not the first record's");
                    FUZZ_CHECK(relaxed || !any || e.seq() > last_seq,
                               "sequence numbers out of order: " + std::to_string(e.seq()) +
                                   " after " + std::to_string(last_seq));
                    // (With a checkpoint, frames below it were not checked again.)
                    FUZZ_CHECK(relaxed || checkpoint || e.seq() < md.appended,
                               "a record past the end");
                    any = true;
                    last_seq = e.seq();
                    seqs_out.push_back(e.seq());
                    values_out.push_back(bytes_of(e.data()));
                    ++n;
                }
                FUZZ_CHECK(n == w.size());
                std::size_t i = values_out.size() - n;
                for (const auto& r : w) {
                    sum += touch(r);
                    FUZZ_CHECK(bytes_of(r) == values_out[i++], "records and entries disagree");
                }
                delivered += w.size();
            });
            if (!got)
                break;
        }
    } catch (const om::error&) {
        had_error = true;
        ++g_errors;
    }
    g_records += delivered;
    g_known += relaxed;
    if (exact) {
        FUZZ_CHECK(!had_error, "a reader refused frames that recovery accepted");
        FUZZ_CHECK(delivered == expected.records - expected.records % window,
                   "delivered " + std::to_string(delivered) + " of " +
                       std::to_string(expected.records) + " records");
        for (std::size_t i = 0; i < delivered; ++i) {
            FUZZ_CHECK(seqs_out[i] == expected.seqs[i],
                       "record " + std::to_string(i) + " delivered has sequence number " +
                           std::to_string(seqs_out[i]) + ", its frame says " +
                           std::to_string(expected.seqs[i]));
            if (values_out[i] != expected.payloads[i]) {
                fail("a record delivered is not the one stored",
                     "sequence number " + std::to_string(seqs_out[i]) + ": frame of " +
                         std::to_string(expected.payloads[i].size()) + " bytes, delivered " +
                         std::to_string(values_out[i].size()) + " bytes");
            }
        }
    }
    if (!(flags & f_buffer_first))
        read_buffer();
    if (exact && !(flags & f_buffer_first) && buffered != 0) {
        // After the drain, buffer() holds what retention kept: never more than there is.
        FUZZ_CHECK(buffered <= expected.records);
    }
    if (exact && (flags & f_buffer_first))
        FUZZ_CHECK(buffered == expected.records,
                   "buffer() holds " + std::to_string(buffered) + " of " +
                       std::to_string(expected.records) + " records");
    const auto after = s->metadata();
    (void)after;

    if (!exact || window != 1 || had_error)
        return;

    // Producers after recovery: their records come out next, in order.
    const std::size_t added = 1 + c[11] % 8;
    std::vector<T> batch;
    for (std::size_t i = 0; i < added; ++i)
        batch.push_back(make_value<T>(i));
    if (c[11] & 8) {
        s->append(batch);
    } else {
        for (const auto& v : batch)
            s->append(v);
    }
    for (std::size_t i = 0; i < added; ++i) {
        bool seen = false;
        const bool got = s->poll([&](const om::window<T>& w) {
            FUZZ_CHECK(w.size() == 1);
            FUZZ_CHECK(w.first_seq() == md.appended + i, "a record appended after recovery "
                                                          "has sequence number " +
                                                              std::to_string(w.first_seq()));
            seen = *w.begin() == batch[i];
        });
        FUZZ_CHECK(got && seen, "a record appended after recovery did not come out");
    }
    FUZZ_CHECK(!s->poll([](const om::window<T>&) {}), "more records than appended");
    std::vector<std::uint64_t> all = expected.seqs;
    for (std::size_t i = 0; i < added; ++i)
        all.push_back(md.appended + i);

    // A second group (a second handle: no recovery) starting anywhere finds
    // its first record through the segments' indexes.
    const std::uint64_t end = md.appended + added;
    const std::uint64_t from = end * c[11] / 255;
    auto g2 = stream_t::open(p.name, om::root = g_root.string(), om::segment_size = D,
                             om::group = "second", om::start = om::from_seq(from));
    const std::uint64_t first = std::max(from, g2.metadata().first_seq);
    const auto want = static_cast<std::uint64_t>(
        all.end() - std::lower_bound(all.begin(), all.end(), first));
    // Index entries that point past the end of the log, for sequence numbers
    // before it (left from before a cut): the known bug stale_index.
    auto stale_entries = [&] {
        const auto tail = d::load_position(p.live->tail);
        std::string stale;
        for (std::size_t k = 0; k < segments; ++k) {
            const auto path = p.dir / seg_name(k);
            if (!std::filesystem::exists(path))
                continue;
            const auto file = read_file(path, H);
            const auto* sh = reinterpret_cast<const d::segment_header*>(file.data());
            for (const auto& e : sh->entries)
                if (e.seq_plus_one != 0 && e.pos >= tail.pos && e.seq_plus_one - 1 < tail.seq)
                    stale += " (seq " + std::to_string(e.seq_plus_one - 1) + ", byte " +
                             std::to_string(e.pos) + ")";
        }
        return "; the log ends at sequence " + std::to_string(tail.seq) + ", byte " +
               std::to_string(tail.pos) +
               "; index entries past that end for sequence numbers before it:" +
               (stale.empty() ? std::string(" none") : stale);
    };
    auto known = [&](const std::string& stale) {
        return stale.find(" none") == std::string::npos && known_bug_skipped("stale_index");
    };
    std::uint64_t got = 0, prev = 0;
    try {
        while (g2.poll([&](const om::window<T>& w) {
            const std::uint64_t q = (*w.entries().begin()).seq();
            FUZZ_CHECK(q >= first && (got == 0 || q > prev),
                       "group 'second' from " + std::to_string(first) + " got record " +
                           std::to_string(q) + " after " + std::to_string(prev));
            prev = q;
            ++got;
            FUZZ_CHECK(got <= want, "group 'second' got more records than there are");
        })) {
        }
    } catch (const om::error& e) {
        const std::string stale = stale_entries();
        if (known(stale)) {
            ++g_known;
            return;
        }
        fail("a reader starting at a sequence number refused frames that recovery accepted",
             e.what() + stale);
    }
    if (got != want) {
        const std::string stale = stale_entries();
        // Known bug (tests/fuzz/crashes/README.md): tolerated on request only.
        if (known(stale)) {
            ++g_known;
            return;
        }
        fail("check failed: got == want", "group 'second' from " + std::to_string(first) +
                                                " got " + std::to_string(got) + " of " +
                                                std::to_string(want) + " records" + stale);
    }
    ++g_checked;
    (void)sum;
}

// --- the seed corpus ----------------------------------------------------------

void write_seed(const std::filesystem::path& dir, const std::string& name,
                std::array<std::uint8_t, config_bytes> c, const std::byte* data, std::size_t n) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(c.data()), c.size());
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
}

// Frames by hand: records with given payload sizes, and a padding frame
// that carries the next sequence number (what a dead writer leaves).
std::vector<std::byte> crafted_frames(std::initializer_list<std::size_t> lengths) {
    std::vector<std::byte> out;
    std::uint64_t seq = 0;
    auto record = [&](std::size_t length) {
        const std::size_t at = out.size();
        out.resize(at + d::frame_size(length));
        auto* h = reinterpret_cast<d::frame_header*>(out.data() + at);
        h->seq = seq++;
        h->created = 1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq);
        for (std::size_t i = 0; i < length; ++i)
            out[at + sizeof(d::frame_header) + i] = static_cast<std::byte>('A' + i % 26);
        h->checksum = d::frame_checksum(*h, static_cast<std::uint32_t>(length));  // payload after h
        h->length = d::frame_committed | static_cast<std::uint32_t>(length);
    };
    auto padding = [&](std::uint32_t bytes, std::uint64_t next) {
        const std::size_t at = out.size();
        out.resize(at + bytes);
        auto* h = reinterpret_cast<d::frame_header*>(out.data() + at);
        h->seq = next;
        h->checksum = d::padding_checksum(next, bytes);
        h->length = d::frame_committed | d::frame_padding | bytes;
        seq = next;
    };
    for (const std::size_t length : lengths) {
        if (length == ~std::size_t{0})
            padding(48, seq + 3);  // three records given up
        else
            record(length);
    }
    return out;
}

void write_corpus(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    using cfg = std::array<std::uint8_t, config_bytes>;
    const auto& s = g_logs[0];
    const auto& u = g_logs[1];
    auto prefix = [](const pristine_log& p, std::size_t k, std::size_t max) {
        std::size_t n = 0;
        for (std::size_t e : p.frame_ends[k])
            if (e <= max)
                n = e;
        return n;
    };
    const std::byte* s0 = s.segment[0].data() + H;
    const std::byte* u0 = u.segment[0].data() + H;
    const std::byte* s1 = s.segment[1].data() + H;
    // Real frames over zeros: what recovery keeps, then the cut.
    write_seed(dir, "string_frames", cfg{0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, s0,
               prefix(s, 0, 2048));
    write_seed(dir, "u64_frames", cfg{f_u64, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, u0,
               prefix(u, 0, 1024));
    write_seed(dir, "string_segment1_frames", cfg{f_segment1 | 32, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
               s1, prefix(s, 1, 8192));
    // The log as appended, a few bytes replaced.
    const std::byte torn[] = {std::byte{0xff}, std::byte{0}, std::byte{0}, std::byte{0x80}};
    write_seed(dir, "string_overlay", cfg{f_overlay, 40, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}, torn, 4);
    write_seed(dir, "u64_overlay_window7", cfg{f_u64 | f_overlay | 64, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
               torn, 0);
    write_seed(dir, "string_overlay_segment1_buffer",
               cfg{f_overlay | f_segment1 | f_buffer_first, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0},
               s.segment[1].data() + H + 16, 8);
    // Segment header patches: the index entries, then the magic.
    std::uint64_t entry[3] = {1, 100 * 8, 0};
    write_seed(dir, "string_patch_index", cfg{f_overlay | f_patch_header, 0, 0, 4, 64 + 24, 0, 23, 0, 0, 0, 0, 0},
               reinterpret_cast<const std::byte*>(entry), sizeof entry);
    const char magic[] = "OMSTRSEx";
    write_seed(dir, "u64_patch_magic", cfg{f_u64 | f_overlay | f_patch_header, 0, 0, 1, 0, 0, 7, 0, 0, 0, 0, 0},
               reinterpret_cast<const std::byte*>(magic), 8);
    // A checkpoint in the middle of segment 0 (the 40th frame end).
    write_seed(dir, "string_checkpoint", cfg{f_overlay | f_checkpoint, 0, 0, 4, 0, 0, 0, 40, 0, 0, 0, 0},
               torn, 0);
    // Hand-made frames, padding with a sequence number among them.
    // (~0: a padding frame; in the std::uint64_t log, records of other sizes than 8.)
    constexpr std::size_t pad = ~std::size_t{0};
    const auto crafted = crafted_frames({3, 8, pad, 0, 20});
    write_seed(dir, "string_crafted", cfg{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}, crafted.data(),
               crafted.size());
    const auto crafted_u64 = crafted_frames({8, 8, pad, 8, 8, 8});
    write_seed(dir, "u64_crafted", cfg{f_u64 | 32, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
               crafted_u64.data(), crafted_u64.size());
}

// Inputs for the known bugs that need no fuzzing to find (the frame format
// may change: regenerate them rather than keep stale bytes).
void write_reproducers(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    using cfg = std::array<std::uint8_t, config_bytes>;
    // short_fixed: a std::uint64_t log takes a record of 3 bytes (its reader
    // delivers 8: the 3 and 5 bytes of the frame's alignment padding).
    const auto short3 = crafted_frames({8, 3, 8});
    write_seed(dir, "short_fixed-3_byte_record", cfg{f_u64, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
               short3.data(), short3.size());
    // short_fixed: a 0-byte record (a 24-byte frame) in a window of 2: the
    // window steps 32 bytes to the next record, into the middle of its frame.
    const auto short0 = crafted_frames({0, 8, 8, 8});
    write_seed(dir, "short_fixed-0_byte_record_window2",
               cfg{f_u64 | 32, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, short0.data(), short0.size());
    // short_fixed: a 0-byte record as the last frame of a segment: decoding
    // it reads 8 bytes past the end of the segment's mapping.
    std::vector<std::byte> end(D);
    const std::uint32_t pad = static_cast<std::uint32_t>(D - sizeof(d::frame_header));
    auto* h = reinterpret_cast<d::frame_header*>(end.data());
    h->seq = 0;
    h->checksum = d::padding_checksum(0, pad);
    h->length = d::frame_committed | d::frame_padding | pad;
    auto* last = reinterpret_cast<d::frame_header*>(end.data() + pad);
    last->seq = 0;
    last->created = 1'700'000'000'000'000'000;
    last->checksum = d::frame_checksum(*last, 0);
    last->length = d::frame_committed;
    write_seed(dir, "short_fixed-0_byte_record_at_segment_end",
               cfg{f_u64, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, end.data(), end.size());
    // unchecked_index: segment 0's index entry 1 says record 0 starts at byte
    // D - 1 of segment 0; a group starting at record 0 (locate, walk_to,
    // is_padding) loads a length word there: misaligned, and 3 bytes past
    // the end of the segment's mapping.
    const std::uint64_t entry[3] = {1, D - 1, 0};
    write_seed(dir, "unchecked_index-entry_at_segment_end",
               cfg{f_overlay | f_patch_header, 0, 0, 4, 64 + 24, 0, 23, 0, 0, 0, 0, 0},
               reinterpret_cast<const std::byte*>(entry), sizeof entry);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setup();
    if (const char* dir = std::getenv("OMSTREAM_FUZZ_WRITE_CORPUS"); dir != nullptr && *dir) {
        write_corpus(dir);
        std::exit(0);
    }
    if (const char* dir = std::getenv("OMSTREAM_FUZZ_WRITE_REPRODUCERS"); dir != nullptr && *dir) {
        write_reproducers(dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size) {
    std::array<std::uint8_t, config_bytes> c{};
    std::memcpy(c.data(), input, std::min(size, config_bytes));
    const std::uint8_t* bytes = input + std::min(size, config_bytes);
    const std::size_t n = size - std::min(size, config_bytes);
    ++g_inputs;
    try {
        fuzz_scan(c.data(), bytes, n);
        if (c[0] & f_u64)
            fuzz_log<std::uint64_t>(c.data(), bytes, n);
        else
            fuzz_log<std::string>(c.data(), bytes, n);
    } catch (const om::error& e) {
        fail("an omstream::error escaped where none was expected", e.what());
    } catch (const std::exception& e) {
        fail("an exception that is not omstream::error", e.what());
    }
    return 0;
}
