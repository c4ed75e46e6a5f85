// Benchmark of omstream's mapped_log (a persistent log in mapped segment
// files) with 64-byte records, on two pinned CPUs (0 and 1; a failure to pin
// is ignored). Rows, all measured in one run:
//
//  1. raw.mmap_copy.64B           the limit: memcpy of 64-byte records to consecutive
//                                 offsets of a MAP_SHARED file mapping pre-faulted with
//                                 MADV_POPULATE_WRITE (.faulting: the same, not pre-faulted)
//  2. omstream.mapped_log.64B     single appends into a fresh log (segment_size 64 MiB,
//                                 sync_never): creating segments and first-touch page
//                                 faults included; .batch64: append(range of 64);
//                                 .prefaulted / .batch64.prefaulted: within the first
//                                 quarter of segment 0, whose pages were faulted in first
//                                 (no page faults; from there on the log maps segment 1
//                                 ahead). The rows that roll segments run their producer
//                                 on a thread pinned to CPU 0, the main thread unpinned.
//     .append_latency             every single append timed (one per ~1 us) through three
//                                 rolls of 64 MiB segments: p50/p99/p99.9, the slowest
//  3. lmdb.append.64B             LMDB (OMSTREAM_HAVE_LMDB): MDB_APPEND, 8-byte big-endian
//                                 keys, MDB_WRITEMAP | MDB_NOSYNC | MDB_NOMETASYNC, one
//                                 transaction per 1000 records (.txn1: one per record);
//                                 omstream.mapped_log.64B.vs_lmdb: the ratio of the two
//  4. omstream.mapped_log.64B.latency   write-to-read, one way: a producer process
//                                 appends one record every ~2 us stamped with the TSC, a
//                                 consumer process polls a count_window(1) in a spin loop;
//                                 .prefaulted: segment 0 pre-faulted in both processes;
//                                 .apply: the consumer in apply() (spins, then sleeps).
//                                 The producer sends only once the previous record was
//                                 taken, so a preempted consumer costs one slow sample, not
//                                 a queue of them.
//                                 floor.cacheline.log_run: cache-line ping-pong between the
//                                 same two processes (RTT/2), interleaved in rounds.
//  5. omstream.mapped_log.replay  a closed log (~512 MiB) read back by a new group from
//                                 the oldest record, count_window(1024), every byte touched
//  6. omstream.mapped_log.recovery  the first open() after every handle closed, which
//                                 checks every frame's CRC-32C (sync_never: the whole log)
//
// Environment:
//   OMSTREAM_BENCH_SMOKE=1         small counts, one repetition: a few seconds (CI)
//   OMSTREAM_BENCH_JSON=path       also write the rows as JSON (docs/benchmarks.md, bench/run)
//   OMSTREAM_BENCH_RECORDS=N       records per throughput repetition (default 4M; smoke 200k)
//   OMSTREAM_BENCH_REPETITIONS=R   repetitions of each throughput/replay row (default 5)
//   OMSTREAM_BENCH_SAMPLES=N       latency samples per latency row (default 200k; smoke 10k)
//   OMSTREAM_BENCH_REPLAY_MB=M     size of the replayed log (default 512; smoke 8)
//   OMSTREAM_BENCH_FILTER=s        only the rows whose name contains s (profiling)
//   OMSTREAM_BENCH_FIFO=1          latency rows under SCHED_FIFO (needs CAP_SYS_NICE): on a
//                                  shared host other work otherwise preempts the two spinning
//                                  processes and fills the tail percentiles with milliseconds
//
// Scratch files live in a directory made with mkdtemp under $TMPDIR (or /tmp)
// and removed at the end. Children carry an alarm(); the parent kills a child
// that overruns, so a hang fails its row instead of the run.

#include <omstream/stream.hpp>

#if defined(OMSTREAM_HAVE_LMDB)
#include <lmdb.h>
#endif

#include "common.hpp"

#include <endian.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <exception>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {
using steady = std::chrono::steady_clock;

using log_t = omstream::mapped_log<rec64>;
using stream_t = omstream::stream<log_t, omstream::count_window>;

constexpr std::size_t segment_bytes = std::size_t{64} << 20;
constexpr std::size_t frame_bytes = omstream::detail::frame_size(sizeof(rec64));  // 24-byte header + 64
constexpr std::size_t records_per_segment = segment_bytes / frame_bytes;
constexpr std::size_t batch = 64;
constexpr std::size_t replay_window = 1024;
constexpr u64 lmdb_txn_records = 1000;
constexpr std::int64_t pace_ns = 2000;

// --- configuration -----------------------------------------------------------

u64 records() {
    const u64 n = env_number("OMSTREAM_BENCH_RECORDS", smoke() ? 200'000 : 4'000'000);
    return (n + batch - 1) / batch * batch;
}
// Records that fill the first quarter of segment 0 (the pre-faulted rows stay
// in it: from there on, the log maps segment 1 ahead on a thread of its own,
// page work that these rows are meant to leave out).
u64 prefaulted_records() { return std::min<u64>(records(), (records_per_segment / 4 - 2 * batch) / batch * batch); }
// Single appends timed one by one, across this many segment rolls.
constexpr u64 roll_segments = 3;
u64 roll_records() { return smoke() ? 100'000 : (roll_segments * records_per_segment + records_per_segment / 4); }
constexpr std::int64_t roll_pace_ns = 1000;
int repetitions() { return smoke() ? 1 : static_cast<int>(env_number("OMSTREAM_BENCH_REPETITIONS", 5)); }
u64 latency_samples() { return env_number("OMSTREAM_BENCH_SAMPLES", smoke() ? 10'000 : 200'000); }
u64 latency_warmup() { return smoke() ? 1'000 : 10'000; }
u64 replay_records() {
    const u64 bytes = env_number("OMSTREAM_BENCH_REPLAY_MB", smoke() ? 8 : 512) << 20;
    return std::max<u64>(bytes / frame_bytes / replay_window, 1) * replay_window;
}
unsigned child_alarm_s() { return smoke() ? 30 : 300; }
double phase_deadline_s() { return smoke() ? 30.0 : 300.0; }

bool wanted(const std::string& name) {
    const char* f = std::getenv("OMSTREAM_BENCH_FILTER");
    return f == nullptr || *f == '\0' || name.find(f) != std::string::npos;
}

std::string g_dir;   // scratch directory (mkdtemp)
std::string g_load;  // load average when the run started

// --- processes, clocks -------------------------------------------------------

volatile sig_atomic_t g_child = 0;

void on_parent_alarm(int) {
    if (g_child > 0) ::kill(g_child, SIGKILL);
    const char msg[] = "bench_mapped_log: global timeout, giving up (scratch files may remain in /tmp/omstream-bench-log-*)\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(3);
}

struct alignas(64) control {
    std::atomic<int> ready{0};       // child: set up
    std::atomic<int> start{0};       // parent: go
    std::atomic<int> failed{0};      // child: something went wrong
    std::atomic<int> log_ready{0};   // parent: the log and its segment 0 exist
    std::atomic<u64> acked{0};       // child: blocks of records received
    std::atomic<long> child_nvcsw{0};  // child: involuntary context switches while sampling
    char error[256];
};

// Runs `child_fn` in a child process on CPU 1 and `parent_fn` here on CPU 0.
template <class ChildFn, class ParentFn>
void run_pair(control* ctl, ChildFn&& child_fn, ParentFn&& parent_fn) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw phase_error("fork failed");
    if (pid == 0) {
        std::signal(SIGALRM, SIG_DFL);
        ::alarm(child_alarm_s());
        pin(1);
        int rc = 0;
        try {
            child_fn();
        } catch (const std::exception& e) {
            std::snprintf(ctl->error, sizeof ctl->error, "child: %s", e.what());
            ctl->failed.store(1);
            rc = 2;
        }
        ::_exit(rc);
    }
    g_child = pid;
    pin(0);
    std::string failure;
    try {
        parent_fn();
    } catch (const std::exception& e) {
        failure = e.what();
    }
    const deadline d(failure.empty() ? phase_deadline_s() : 0.5);
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || r < 0) break;
        if (d.passed()) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            if (failure.empty()) failure = "child did not finish in time";
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    g_child = 0;
    if (failure.empty() && ctl->failed.load()) failure = ctl->error;
    if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        failure = WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status))
                                      : "child exited with " + std::to_string(WEXITSTATUS(status));
    if (!failure.empty()) throw phase_error(failure);
}

// --- mappings ----------------------------------------------------------------

// Faults in every page of [p, p + bytes), writable (or readable): the
// kernel's MADV_POPULATE_*, else one atomic no-op per page (the bytes keep
// their values, so this is safe on memory the library owns).
std::string populate(void* p, std::size_t bytes, bool write) {
    if (::madvise(p, bytes, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) == 0)
        return write ? "MADV_POPULATE_WRITE" : "MADV_POPULATE_READ";
    auto* b = static_cast<unsigned char*>(p);
    u64 sink = 0;
    for (std::size_t off = 0; off < bytes; off += 4096) {
        auto& word = *reinterpret_cast<u64*>(b + off);
        if (write)
            std::atomic_ref<u64>(word).fetch_add(0, std::memory_order_relaxed);
        else
            sink += std::atomic_ref<u64>(word).load(std::memory_order_relaxed);
    }
    asm volatile("" : : "r"(sink) : "memory");
    return "a touch per page";
}

// This process's mapping of a log's segment file, from /proc/self/maps.
std::span<std::byte> find_mapping(const std::string& path) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        if (line.size() < path.size() || line.compare(line.size() - path.size(), path.size(), path) != 0) continue;
        unsigned long long from = 0, to = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx", &from, &to) != 2) continue;
        return {reinterpret_cast<std::byte*>(from), static_cast<std::size_t>(to - from)};
    }
    throw phase_error("no mapping of " + path + " in /proc/self/maps");
}

std::string segment_path(const std::string& log, u64 k) {
    return g_dir + "/" + log + "/" + omstream::detail::segment_file_name(k);
}

stream_t open_log(const std::string& name, std::size_t window = 1) {
    return stream_t::open(name, omstream::root = g_dir, omstream::segment_size = segment_bytes,
                          omstream::size = window);
}

rec64 make_record(u64 i) {
    rec64 r;
    for (auto& w : r.v) w = i;
    return r;
}

// --- results -----------------------------------------------------------------

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
    std::string name;
    double records_per_s = NAN;
    stats lat;
    double ratio = NAN;
    std::string target;  // as the issue words it
    std::vector<check> checks;
    std::string note;
    std::vector<std::pair<std::string, double>> extra;  // more JSON fields
};

std::vector<row> g_rows;

row& add_row(const std::string& name) {
    for (auto& r : g_rows)
        if (r.name == name) return r;
    g_rows.emplace_back();
    g_rows.back().name = name;
    return g_rows.back();
}
row* find_row(const std::string& name) {
    for (auto& r : g_rows)
        if (r.name == name) return &r;
    return nullptr;
}

std::string num(double v, int precision = 0) {
    if (std::isnan(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
    return buf;
}
std::string mega(double v) { return std::isnan(v) ? "-" : num(v / 1e6, 2) + " M"; }

void append_note(row& r, const std::string& note) { r.note = r.note.empty() ? note : r.note + "; " + note; }

// A throughput row: the median of the repetitions' rates.
void set_rate(row& r, const std::vector<double>& rates, u64 n) {
    r.records_per_s = median(rates);
    std::string all;
    for (double x : rates) all += (all.empty() ? "" : " ") + num(x / 1e6, 1);
    append_note(r, "median of " + std::to_string(rates.size()) + " x " + std::to_string(n) + " records (runs: " + all +
                       " M/s)");
}

template <class F>
void guarded(const std::string& name, F&& f) {
    if (!wanted(name) && !(name == "omstream.mapped_log.64B.latency" && wanted("floor.cacheline.log_run"))) return;
    std::printf("  %s ...\n", name.c_str());
    std::fflush(stdout);
    try {
        f();
    } catch (const std::exception& e) {
        row& r = add_row(name);
        r.note = std::string("FAILED: ") + e.what() + (r.note.empty() ? "" : "; " + r.note);
    }
}

// Runs f on a thread pinned to CPU 0 while the main thread may run on every
// CPU: the deployment the library is made for (a producer thread pinned
// apart, housekeeping elsewhere). The log's helper thread, which maps the
// next segment ahead, runs where the main thread may and off the producer's
// CPU. Every row that appends to a log through segment rolls runs this way.
template <class F>
void on_pinned_producer(F&& f) {
    cpu_set_t every;
    CPU_ZERO(&every);
    for (long cpu = 0; cpu < sysconf(_SC_NPROCESSORS_ONLN) && cpu < CPU_SETSIZE; ++cpu)
        CPU_SET(static_cast<int>(cpu), &every);
    (void)sched_setaffinity(0, sizeof every, &every);
    std::exception_ptr failed;
    std::thread producer([&] {
        pin(0);
        try {
            f();
        } catch (...) {
            failed = std::current_exception();
        }
    });
    producer.join();
    pin(0);
    if (failed) std::rethrow_exception(failed);
}

// --- 1. raw copy into a mapped file ---------------------------------------------

double raw_copy_once(u64 n, bool prefault, std::string& how) {
    const std::string path = g_dir + "/raw.bin";
    const std::size_t bytes = n * sizeof(rec64);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw phase_error("open " + path + ": " + std::strerror(errno));
    if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)); err != 0) {
        ::close(fd);
        throw phase_error(std::string("posix_fallocate: ") + std::strerror(err));
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw phase_error(std::string("mmap: ") + std::strerror(errno));
    if (prefault) how = populate(p, bytes, true);
    auto* out = static_cast<std::byte*>(p);
    const auto t0 = steady_ns();
    for (u64 i = 0; i < n; ++i) {
        const rec64 r = make_record(i);
        std::memcpy(out + i * sizeof(rec64), &r, sizeof r);
    }
    const auto t1 = steady_ns();
    // Check a few records (and keep the copies observable).
    for (u64 i : {u64{0}, n / 2, n - 1}) {
        rec64 r;
        std::memcpy(&r, out + i * sizeof(rec64), sizeof r);
        if (r.v[0] != i || r.v[7] != i) throw phase_error("raw copy: wrong data");
    }
    ::munmap(p, bytes);
    ::unlink(path.c_str());
    return static_cast<double>(n) / (static_cast<double>(t1 - t0) * 1e-9);
}

void bench_raw(bool prefault) {
    const std::string name = prefault ? "raw.mmap_copy.64B" : "raw.mmap_copy.64B.faulting";
    guarded(name, [&] {
        row& r = add_row(name);
        const u64 n = records();
        std::vector<double> rates;
        std::string how;
        for (int i = 0; i < repetitions(); ++i) rates.push_back(raw_copy_once(n, prefault, how));
        set_rate(r, rates, n);
        append_note(r, prefault ? "memcpy to a MAP_SHARED file mapping pre-faulted with " + how + ", 64 B per record"
                                : "the same into a fresh fallocated file, not pre-faulted (page faults included)");
    });
}

// --- 2. mapped_log appends ------------------------------------------------------

// Appends n records (single or in batches of 64) to a fresh log; records/s.
// prefault: the first batch creates segment 0, whose pages are then faulted
// in, and only the records after it are timed (all within segment 0).
double log_append_once(u64 n, bool batched, bool prefault, std::string& how) {
    const std::string name = "append";
    log_t::remove(name, g_dir);
    double rate = 0;
    {
        auto s = open_log(name);
        u64 first = 0;
        std::array<rec64, batch> a;
        auto fill = [&](u64 v) {
            for (std::size_t k = 0; k < batch; ++k) a[k] = make_record(v + k);
        };
        if (prefault) {
            fill(0);
            s.append(std::span<const rec64>(a));
            first = batch;
            const auto m = find_mapping(segment_path(name, 0));
            how = populate(m.data(), m.size(), true);
        }
        const auto t0 = steady_ns();
        if (batched) {
            for (u64 v = first; v < n; v += batch) {
                fill(v);
                s.append(std::span<const rec64>(a));
            }
        } else {
            for (u64 v = first; v < n; ++v) s.append(make_record(v));
        }
        const auto t1 = steady_ns();
        rate = static_cast<double>(n - first) / (static_cast<double>(t1 - t0) * 1e-9);
        const auto md = s.metadata();
        if (md.appended != n)
            throw phase_error("the log holds " + std::to_string(md.appended) + " records, expected " + std::to_string(n));
    }
    log_t::remove(name, g_dir);
    return rate;
}

void bench_log_append(bool batched, bool prefault) {
    const std::string name =
        std::string("omstream.mapped_log.64B") + (batched ? ".batch64" : "") + (prefault ? ".prefaulted" : "");
    guarded(name, [&] {
        row& r = add_row(name);
        const u64 n = prefault ? prefaulted_records() : records();
        std::vector<double> rates;
        std::string how;
        for (int i = 0; i < repetitions(); ++i)
            on_pinned_producer([&] { rates.push_back(log_append_once(n, batched, prefault, how)); });
        set_rate(r, rates, n);
        if (prefault)
            append_note(r, "timed after the first batch created segment 0, within it, its mapping pre-faulted with " + how +
                               ": no segment creation, no page faults");
        else
            append_note(r, "fresh log, segment_size 64 MiB, sync_never: creating the segments (file, mapping, whatever "
                               "prefaulting the library does) and page faults included (" +
                               num(static_cast<double>(n) * frame_bytes / segment_bytes, 1) + " segments)");
        append_note(r, std::to_string(frame_bytes) + " B per record in the log (24 B frame header)");
    });
}

// 8-byte records (the row for every storage with u64 records): single
// appends into a fresh log, segments and page faults included.
void bench_log_append_u64() {
    const std::string name = "omstream.mapped_log.u64";
    guarded(name, [&] {
        row& r = add_row(name);
        const u64 n = records();
        std::vector<double> rates;
        for (int i = 0; i < repetitions(); ++i) {
            omstream::mapped_log<std::uint64_t>::remove("append-u64", g_dir);
            on_pinned_producer([&] {
                auto s = omstream::stream<omstream::mapped_log<std::uint64_t>>::open(
                    "append-u64", omstream::root = g_dir, omstream::segment_size = segment_bytes);
                const auto t0 = steady_ns();
                for (u64 v = 0; v < n; ++v) s.append(v);
                const auto t1 = steady_ns();
                rates.push_back(static_cast<double>(n) / (static_cast<double>(t1 - t0) * 1e-9));
                if (s.metadata().appended != n)
                    throw phase_error("the u64 log holds the wrong number of records");
            });
            omstream::mapped_log<std::uint64_t>::remove("append-u64", g_dir);
        }
        set_rate(r, rates, n);
        append_note(r, "single appends of std::uint64_t into a fresh log (32 B frames), segment "
                       "creation and page faults included");
    });
}

// Every single append timed, one every ~1 us (a producer at 1 M records/s)
// through several segment rolls: a roll used to stall the append that
// crossed it while the kernel zeroed and mapped the next 64 MiB segment.
void bench_append_latency() {
    const std::string name = "omstream.mapped_log.64B.append_latency";
    guarded(name, [&] {
        row& r = add_row(name);
        const std::string log = "append-latency";
        log_t::remove(log, g_dir);
        const u64 n = roll_records();
        std::vector<double> ns;
        ns.reserve(n);
        double first_ns = 0;
        on_pinned_producer([&] {
            auto s = open_log(log);
            for (u64 i = 0; i < n; ++i) {
                const auto t0 = steady_ns();
                s.append(make_record(i));
                const auto t1 = steady_ns();
                if (i == 0)
                    first_ns = static_cast<double>(t1 - t0);
                else
                    ns.push_back(static_cast<double>(t1 - t0));
                while (steady_ns() - t1 < roll_pace_ns) {
                }
            }
        });
        log_t::remove(log, g_dir);
        const double worst = *std::max_element(ns.begin(), ns.end());
        const auto stalls = std::count_if(ns.begin(), ns.end(), [](double x) { return x > 1e6; });
        r.lat = percentiles(std::move(ns));
        append_note(r, std::to_string(n - 1) + " single appends, one every ~" + std::to_string(roll_pace_ns) +
                           " ns, each timed with steady_clock (~20 ns of it is the clock), through " +
                           num(static_cast<double>(n) * frame_bytes / segment_bytes, 1) +
                           " segments of 64 MiB; slowest " + num(worst / 1e6, 2) + " ms, " + std::to_string(stalls) +
                           " over 1 ms; the first append, which creates segment 0, took " + num(first_ns / 1e6, 1) +
                           " ms and is left out");
        r.extra.push_back({"max_ns", worst});
    });
}

// --- 3. LMDB ----------------------------------------------------------------------

#if defined(OMSTREAM_HAVE_LMDB)
void lmdb_check(int rc, const char* what) {
    if (rc != MDB_SUCCESS) throw phase_error(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

double lmdb_once(u64 n, u64 per_txn) {
    const std::string dir = g_dir + "/lmdb";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    MDB_env* env = nullptr;
    lmdb_check(mdb_env_create(&env), "env_create");
    double rate = 0;
    try {
        lmdb_check(mdb_env_set_mapsize(env, static_cast<std::size_t>(n) * 256 + (std::size_t{64} << 20)), "set_mapsize");
        lmdb_check(mdb_env_open(env, dir.c_str(), MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC, 0600), "env_open");
        MDB_txn* txn = nullptr;
        MDB_dbi dbi = 0;
        lmdb_check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
        lmdb_check(mdb_dbi_open(txn, nullptr, 0, &dbi), "dbi_open");
        lmdb_check(mdb_txn_commit(txn), "txn_commit");
        const auto t0 = steady_ns();
        for (u64 i = 0; i < n;) {
            lmdb_check(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
            for (u64 k = 0; k < per_txn && i < n; ++k, ++i) {
                u64 key = htobe64(i);
                rec64 value = make_record(i);
                MDB_val kv{sizeof key, &key}, dv{sizeof value, &value};
                const int rc = mdb_put(txn, dbi, &kv, &dv, MDB_APPEND);
                if (rc != MDB_SUCCESS) {
                    mdb_txn_abort(txn);
                    lmdb_check(rc, "put");
                }
            }
            lmdb_check(mdb_txn_commit(txn), "txn_commit");
        }
        const auto t1 = steady_ns();
        rate = static_cast<double>(n) / (static_cast<double>(t1 - t0) * 1e-9);
        MDB_stat st{};
        lmdb_check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "txn_begin");
        lmdb_check(mdb_stat(txn, dbi, &st), "stat");
        mdb_txn_abort(txn);
        if (st.ms_entries != n)
            throw phase_error("lmdb holds " + std::to_string(st.ms_entries) + " entries, expected " + std::to_string(n));
    } catch (...) {
        mdb_env_close(env);
        std::filesystem::remove_all(dir);
        throw;
    }
    mdb_env_close(env);
    std::filesystem::remove_all(dir);
    return rate;
}

void bench_lmdb(u64 per_txn) {
    const std::string name = per_txn == 1 ? "lmdb.append.64B.txn1" : "lmdb.append.64B";
    guarded(name, [&] {
        row& r = add_row(name);
        const u64 n = per_txn == 1 ? std::max<u64>(records() / 20, 1000) : records();
        std::vector<double> rates;
        for (int i = 0; i < repetitions(); ++i) rates.push_back(lmdb_once(n, per_txn));
        set_rate(r, rates, n);
        append_note(r, std::string(MDB_VERSION_STRING) +
                           ": MDB_APPEND, 8-byte big-endian keys, MDB_WRITEMAP|MDB_NOSYNC|MDB_NOMETASYNC, fresh env, " +
                           (per_txn == 1 ? std::string("one transaction per record")
                                         : "one transaction per " + std::to_string(per_txn) + " records"));
    });
}
#endif

// --- 4. write-to-read latency -------------------------------------------------------

constexpr u64 latency_rounds = 20;

enum class consumer_mode { poll_spin, apply };

// What frame `seq` of segment 0 touches first: a page no frame before it reached.
bool first_touch(u64 seq) {
    const u64 from = seq * frame_bytes, to = from + frame_bytes - 1;
    return seq == 0 || to / 4096 != (from - 1) / 4096;
}

struct latency_result {
    stats log, floor, one_way_floor, touch, no_touch;
    double touch_fraction = NAN;
    u64 negative = 0;
    u64 held_back = 0;  // sends delayed because the consumer had not taken the previous record yet
    long producer_nvcsw = 0, consumer_nvcsw = 0;
    bool fifo = false;
};

// Involuntary context switches of this process so far (preemptions by other work on the CPU).
long involuntary_switches() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(27));
    return -1;
}

// OMSTREAM_BENCH_FIFO=1: run the latency rows under SCHED_FIFO (priority 1), so
// that other work on the two CPUs does not preempt them (needs CAP_SYS_NICE;
// the kernel's RT throttling still leaves others 5%). Off by default.
bool fifo_wanted() {
    const char* v = std::getenv("OMSTREAM_BENCH_FIFO");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
}
bool set_fifo(bool on) {
    sched_param sp{};
    sp.sched_priority = on ? 1 : 0;
    return ::sched_setscheduler(0, on ? SCHED_FIFO : SCHED_OTHER, &sp) == 0;
}

latency_result run_latency(const std::string& log_name, bool prefault, consumer_mode mode, std::string& how) {
    log_t::remove(log_name, g_dir);
    const u64 warm = latency_warmup(), per_round = std::max<u64>(latency_samples() / latency_rounds, 1);
    const u64 n = per_round * latency_rounds;
    if (1 + warm + n > records_per_segment - 16) throw phase_error("too many samples for one segment");
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    auto* line = new (shared_alloc(sizeof(pingpong_line))) pingpong_line;
    // The consumer's count of records taken: the producer sends a record only
    // once the previous one was taken, so that a consumer preempted by other
    // work shows as one slow sample, not as a queue of them.
    auto* progress = new (shared_alloc(sizeof(pingpong_line))) pingpong_line;
    // Paced one-way floor: the producer stores TSC stamps in consecutive words, the consumer spins on each.
    auto* stamps = static_cast<std::atomic<u64>*>(shared_alloc(sizeof(std::atomic<u64>) * per_round));
    const std::size_t lat_bytes = sizeof(std::int64_t) * (warm + n);
    auto* lat = static_cast<std::int64_t*>(shared_alloc(lat_bytes));
    auto* ow = static_cast<std::int64_t*>(shared_alloc(sizeof(std::int64_t) * n));
    std::vector<double> floor_rtt;
    floor_rtt.reserve(n);
    const u64 gap = g_tick.ticks(static_cast<double>(pace_ns));
    u64 held_back = 0;
    long producer_nvcsw = 0;
    // Each process switches to SCHED_FIFO once it sits on its own CPU (a FIFO
    // parent spinning on CPU 0 would starve a child not yet moved to CPU 1).
    const bool fifo = fifo_wanted();
    std::atomic<bool> fifo_set{false};
    auto cleanup = [&] {
        if (fifo_set) set_fifo(false);
        ::munmap(ctl, sizeof(control));
        ::munmap(line, sizeof(pingpong_line));
        ::munmap(progress, sizeof(pingpong_line));
        ::munmap(stamps, sizeof(std::atomic<u64>) * per_round);
        ::munmap(lat, lat_bytes);
        ::munmap(ow, sizeof(std::int64_t) * n);
        log_t::remove(log_name, g_dir);
    };
    try {
        run_pair(
            ctl,
            [&] {  // consumer, CPU 1
                if (fifo && !set_fifo(true)) throw phase_error("sched_setscheduler(SCHED_FIFO) failed");
                if (!spin_until([&] { return ctl->log_ready.load(std::memory_order_acquire) != 0; },
                                deadline(phase_deadline_s())))
                    throw phase_error("producer never opened the log");
                auto c = open_log(log_name);
                u64 next = 0;  // sequence number expected (0: the producer's first record)
                auto fn = [&](const omstream::window<rec64>& w) {
                    const u64 now = ticker::now();
                    if (w.first_seq() != next || w.size() != 1) throw phase_error("out of order");
                    for (const rec64& r : w) {
                        if (r.v[1] != next) throw phase_error("wrong record");
                        if (next > 0) lat[next - 1] = static_cast<std::int64_t>(now - r.v[0]);
                    }
                    ++next;
                    progress->word.store(next, std::memory_order_release);
                };
                const deadline d(phase_deadline_s());
                // Join and take the first record: this maps segment 0.
                if (!spin_until([&] { return c.poll(fn); }, d)) throw phase_error("no first record");
                if (prefault) {
                    const auto m = find_mapping(segment_path(log_name, 0));
                    populate(m.data(), m.size(), false);
                }
                ctl->ready.store(1, std::memory_order_release);
                if (!spin_until([&] { return ctl->start.load(std::memory_order_acquire) != 0; }, d))
                    throw phase_error("parent never started");
                u64 word = 0;
                auto consume = [&](u64 count) {
                    const u64 until = next + count;
                    if (mode == consumer_mode::poll_spin) {
                        u64 spins = 0;
                        while (next < until)
                            if (!c.poll(fn) && (++spins & 0xfffff) == 0 && d.passed())
                                throw phase_error("consumer: timed out");
                    } else {
                        std::stop_source stop;
                        c.apply(
                            [&](const omstream::window<rec64>& w) {
                                fn(w);
                                if (next >= until) stop.request_stop();
                            },
                            stop.get_token());
                    }
                };
                auto floor_echo = [&](u64 count) {
                    for (u64 i = 0; i < count; ++i, word += 2) {
                        while (line->word.load(std::memory_order_acquire) != word + 1) cpu_relax();
                        line->word.store(word + 2, std::memory_order_release);
                    }
                };
                auto one_way = [&](u64 count) {
                    for (u64 i = 0; i < count; ++i) {
                        u64 s;
                        while ((s = stamps[i].load(std::memory_order_acquire)) == 0) cpu_relax();
                        const u64 now = ticker::now();
                        ow[i] = static_cast<std::int64_t>(now - s);
                        progress->word.store(next + i + 1, std::memory_order_release);  // as the log rows do
                    }
                    progress->word.store(next, std::memory_order_release);
                };
                consume(warm);
                const long switches = involuntary_switches();
                ctl->acked.store(1, std::memory_order_release);
                for (u64 round = 0; round < latency_rounds; ++round) {
                    floor_echo(per_round);
                    one_way(round == 0 ? per_round : 0);  // once: checks that the TSC is one clock
                    consume(per_round);
                    if (round + 1 == latency_rounds) ctl->child_nvcsw.store(involuntary_switches() - switches);
                    ctl->acked.store(round + 2, std::memory_order_release);
                }
            },
            [&] {  // producer, CPU 0
                auto p = open_log(log_name);
                p.append(make_record(0));  // seq 0, creates segment 0
                if (prefault) {
                    const auto m = find_mapping(segment_path(log_name, 0));
                    how = populate(m.data(), m.size(), true);
                }
                ctl->log_ready.store(1, std::memory_order_release);
                const deadline d(phase_deadline_s());
                if (!spin_until([&] { return ctl->ready.load(std::memory_order_acquire) != 0 || ctl->failed.load(); }, d))
                    throw phase_error("consumer never got ready");
                if (ctl->failed.load()) throw phase_error(ctl->error);
                if (fifo) {
                    if (!set_fifo(true)) throw phase_error("sched_setscheduler(SCHED_FIFO) failed");
                    fifo_set = true;
                }
                ctl->start.store(1, std::memory_order_release);
                u64 seq = 1, word = 0;
                auto wait_acked = [&](u64 v) {
                    if (!spin_until([&] { return ctl->acked.load(std::memory_order_acquire) >= v || ctl->failed.load(); }, d) ||
                        ctl->failed.load())
                        throw phase_error("consumer stopped answering");
                };
                auto produce = [&](u64 count) {
                    u64 next = ticker::now();
                    for (u64 i = 0; i < count; ++i, ++seq) {
                        while (ticker::now() < next) cpu_relax();
                        if (progress->word.load(std::memory_order_acquire) < seq) {
                            ++held_back;
                            u64 spins = 0;
                            while (progress->word.load(std::memory_order_acquire) < seq) {
                                cpu_relax();
                                if ((++spins & 0xfffff) == 0 && (d.passed() || ctl->failed.load()))
                                    throw phase_error("consumer stopped taking records");
                            }
                        }
                        rec64 r = make_record(seq);
                        const u64 t = ticker::now();
                        r.v[0] = t;
                        p.append(r);
                        next = t + gap;
                    }
                };
                auto floor_ping = [&](u64 count) {
                    for (u64 i = 0; i < count; ++i, word += 2) {
                        const u64 t0 = ticker::now();
                        line->word.store(word + 1, std::memory_order_release);
                        u64 spins = 0;
                        while (line->word.load(std::memory_order_acquire) != word + 2) {
                            cpu_relax();
                            if ((++spins & 0xfffff) == 0 && d.passed()) throw phase_error("floor: no answer");
                        }
                        const u64 t1 = ticker::now();
                        floor_rtt.push_back(static_cast<double>(t1 - t0) * g_tick.ns_per_tick / 2);
                    }
                };
                auto stamp_paced = [&](u64 count) {
                    u64 next = ticker::now();
                    for (u64 i = 0; i < count; ++i) {
                        while (ticker::now() < next) cpu_relax();
                        // Like the log rows: only once the consumer has taken the previous stamp.
                        while (progress->word.load(std::memory_order_acquire) < seq + i) cpu_relax();
                        const u64 t = ticker::now();
                        stamps[i].store(t, std::memory_order_release);
                        next = t + gap;
                    }
                    if (count > 0)
                        while (progress->word.load(std::memory_order_acquire) != seq) cpu_relax();  // back to records
                };
                produce(warm);
                wait_acked(1);
                held_back = 0;
                const long switches = involuntary_switches();
                for (u64 round = 0; round < latency_rounds; ++round) {
                    floor_ping(per_round);
                    stamp_paced(round == 0 ? per_round : 0);
                    produce(per_round);
                    wait_acked(round + 2);
                }
                producer_nvcsw = involuntary_switches() - switches;
            });
        latency_result res;
        res.held_back = held_back;
        res.producer_nvcsw = producer_nvcsw;
        res.consumer_nvcsw = ctl->child_nvcsw.load();
        res.fifo = fifo;
        std::vector<double> all, touch, rest;
        for (u64 i = warm; i < warm + n; ++i) {
            const double ns = static_cast<double>(lat[i]) * g_tick.ns_per_tick;
            if (lat[i] < 0) ++res.negative;
            all.push_back(ns);
            (first_touch(i + 1) ? touch : rest).push_back(ns);
        }
        res.touch_fraction = static_cast<double>(touch.size()) / static_cast<double>(all.size());
        res.log = percentiles(std::move(all));
        res.touch = percentiles(std::move(touch));
        res.no_touch = percentiles(std::move(rest));
        res.floor = percentiles(std::move(floor_rtt));
        std::vector<double> o;
        for (u64 i = 0; i < per_round; ++i) {
            if (ow[i] < 0) ++res.negative;
            o.push_back(static_cast<double>(ow[i]) * g_tick.ns_per_tick);
        }
        res.one_way_floor = percentiles(std::move(o));
        cleanup();
        return res;
    } catch (...) {
        cleanup();
        throw;
    }
}

std::string lat_text(const stats& s) {
    return "p50 " + num(s.p50) + ", p99 " + num(s.p99) + ", p99.9 " + num(s.p999) + " ns";
}

void bench_latency(const std::string& name, bool prefault, consumer_mode mode) {
    guarded(name, [&] {
        row& r = add_row(name);
        std::string how;
        const latency_result res = run_latency("latency", prefault, mode, how);
        r.lat = res.log;
        r.ratio = res.log.p50 / res.floor.p50;
        if (name == "omstream.mapped_log.64B.latency") {  // the others are diagnostics
            r.target = "p50 <= 250 ns, p99.99 <= 2000 ns";
            r.checks.push_back({"p50 <= 250 ns", res.log.p50 / 250.0, 1.0, false});
            r.checks.push_back({"p99.99 <= 2000 ns", res.log.p9999 / 2000.0, 1.0, false});
        }
        r.note = std::to_string(res.log.n) + " samples, one record every " + num(pace_ns / 1000.0, 0) +
                 " us, one way (TSC stamped by the producer, read by the consumer), consumer: " +
                 (mode == consumer_mode::poll_spin ? "poll() in a spin loop" : "apply() (polls 4-50 us, adaptive, then sleeps)") +
                 ", count_window(1); ratio = p50 / floor p50 interleaved (" + num(res.floor.p50, 1) + " ns)";
        if (prefault) append_note(r, "segment 0 pre-faulted in both processes (" + how + " / MADV_POPULATE_READ)");
        append_note(r, "samples whose frame first touches a page (" + num(100 * res.touch_fraction, 1) +
                           "%): " + lat_text(res.touch) + "; the others: " + lat_text(res.no_touch));
        append_note(r, "preemptions while sampling: producer " + std::to_string(res.producer_nvcsw) + ", consumer " +
                           std::to_string(res.consumer_nvcsw) + (res.fifo ? " (SCHED_FIFO)" : "") + "; sends held back " +
                           std::to_string(res.held_back) + " times for a consumer behind");
        if (res.negative > 0) append_note(r, std::to_string(res.negative) + " negative samples: the TSC is not one clock here");
        r.extra.push_back({"floor_p50_ns", res.floor.p50});
        r.extra.push_back({"floor_p999_ns", res.floor.p999});
        r.extra.push_back({"samples", static_cast<double>(res.log.n)});
        if (mode == consumer_mode::poll_spin && !prefault && wanted("floor.cacheline.log_run")) {
            row& f = add_row("floor.cacheline.log_run");
            f.lat = res.floor;
            f.ratio = 1.0;
            f.note = std::to_string(res.floor.n) +
                     " cache-line ping-pongs between the two pinned processes, one-way = RTT/2, interleaved in " +
                     std::to_string(latency_rounds) + " rounds with " + name + "; paced one-way TSC stamps (" +
                     std::to_string(res.one_way_floor.n) + "): " + lat_text(res.one_way_floor);
        }
    });
}

// --- 5 and 6. replay and recovery of a closed log -------------------------------------

void bench_replay_recovery() {
    const bool replay = wanted("omstream.mapped_log.replay"), recovery = wanted("omstream.mapped_log.recovery");
    if (!replay && !recovery) return;
    std::printf("  omstream.mapped_log.replay / .recovery ...\n");
    std::fflush(stdout);
    const std::string name = "replay";
    const u64 n = replay_records();
    // Bytes of frames the log spans (a segment's tail that holds no whole frame is padding).
    const u64 full = n / records_per_segment, rest = n % records_per_segment;
    const double log_bytes = static_cast<double>(full * segment_bytes + rest * frame_bytes);
    const double payload_bytes = static_cast<double>(n * sizeof(rec64));
    row* rr = replay ? &add_row("omstream.mapped_log.replay") : nullptr;
    row* rc = recovery ? &add_row("omstream.mapped_log.recovery") : nullptr;
    try {
        log_t::remove(name, g_dir);
        double write_s = 0;
        {
            // keep = true: the replays below delete nothing, so each one reads the whole log.
            auto s = stream_t::open(name, omstream::root = g_dir, omstream::segment_size = segment_bytes,
                                    omstream::keep = true);
            std::array<rec64, batch> a;
            const auto t0 = steady_ns();
            for (u64 v = 0; v < n; v += batch) {
                for (std::size_t k = 0; k < batch; ++k) a[k] = make_record(v + k);
                s.append(std::span<const rec64>(a));
            }
            write_s = static_cast<double>(steady_ns() - t0) * 1e-9;
        }
        std::vector<double> open_s, read_s, first_s;
        for (int rep = 0; rep < repetitions(); ++rep) {
            const auto t0 = steady_ns();
            // Every handle is closed: this open runs recovery (checks every frame from the checkpoint).
            auto c = stream_t::open(name, omstream::root = g_dir, omstream::segment_size = segment_bytes,
                                    omstream::size = replay_window, omstream::group = "replay" + std::to_string(rep),
                                    omstream::start = omstream::from_oldest);
            const auto t1 = steady_ns();
            u64 got = 0, sum = 0;
            std::int64_t first_window_at = 0;
            auto fn = [&](const omstream::window<rec64>& w) {
                if (got == 0) first_window_at = steady_ns();
                if (w.first_seq() != got) throw phase_error("replay: window out of order");
                for (const rec64& r : w)
                    for (u64 x : r.v) sum += x;
                got += w.size();
            };
            const deadline d(phase_deadline_s());
            while (got < n)
                if (!c.poll(fn) && d.passed()) throw phase_error("replay: stuck at record " + std::to_string(got));
            const auto t2 = steady_ns();
            if (sum != 8 * (n * (n - 1) / 2)) throw phase_error("replay: wrong data (checksum of the records)");
            const auto md = c.metadata();
            if (md.recovered_cut_bytes != 0)
                throw phase_error("recovery cut " + std::to_string(md.recovered_cut_bytes) + " bytes: " + md.recovery_note);
            open_s.push_back(static_cast<double>(t1 - t0) * 1e-9);
            read_s.push_back(static_cast<double>(t2 - t1) * 1e-9);
            first_s.push_back(static_cast<double>(first_window_at - t1) * 1e-9);
        }
        const std::string size_text = num(log_bytes / (1 << 20), 0) + " MiB log (" + std::to_string(n) +
                                      " records, " + num(std::ceil(log_bytes / segment_bytes), 0) +
                                      " segments of 64 MiB), written with batch appends at " +
                                      mega(static_cast<double>(n) / write_s) + " records/s and closed";
        if (rr) {
            const double s = median(read_s);
            rr->records_per_s = static_cast<double>(n) / s;
            const double payload_rate = payload_bytes / s, log_rate = log_bytes / s;
            rr->ratio = payload_rate / 2e9;
            rr->target = ">= 2 GB/s";
            rr->checks.push_back({">= 2 GB/s (record bytes)", rr->ratio, 1.0, true});
            rr->extra.push_back({"bytes_per_s", payload_rate});
            rr->extra.push_back({"log_bytes_per_s", log_rate});
            rr->extra.push_back({"first_window_ms", median(first_s) * 1e3});
            rr->note = num(payload_rate / 1e9, 2) + " GB/s of records (64 B each), " + num(log_rate / 1e9, 2) +
                       " GB/s of log (88 B frames); ratio = record GB/s / 2; median of " +
                       std::to_string(read_s.size()) + "; a new group from the oldest record, count_window(" +
                       std::to_string(replay_window) + "), poll() until every record came, each record's 64 bytes summed; " +
                       "its first window came " + num(median(first_s) * 1e3, 2) + " ms after open() (median); " +
                       size_text + " (page cache warm, keep = true)";
        }
        if (rc) {
            const double s = median(open_s);
            rc->records_per_s = static_cast<double>(n) / s;
            const double ms_per_gb = s * 1e3 / (log_bytes / 1e9);
            rc->extra.push_back({"ms_per_gb", ms_per_gb});
            rc->extra.push_back({"open_ms", s * 1e3});
            rc->note = num(ms_per_gb, 1) + " ms per GB scanned (GB = 1e9 bytes of log; " + num(s * 1e3, 1) +
                       " ms for the whole open(), median of " + std::to_string(open_s.size()) +
                       "): the first open() after every handle closed, checking the CRC-32C of every frame (sync_never: "
                       "from the start); records_per_s = records checked per second; " +
                       size_text + " (page cache warm)";
        }
    } catch (const std::exception& e) {
        for (row* r : {rr, rc})
            if (r) r->note = std::string("FAILED: ") + e.what();
    }
    log_t::remove(name, g_dir);
}

// --- report ---------------------------------------------------------------------------

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string one, five, fifteen;
    f >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

void assign_targets() {
    auto rate = [](const char* n) {
        const row* r = find_row(n);
        return r ? r->records_per_s : NAN;
    };
    if (row* r = find_row("omstream.mapped_log.64B")) {
        r->ratio = r->records_per_s / rate("raw.mmap_copy.64B");
        r->target = ">= 0.5x raw.mmap_copy.64B";
        r->checks.push_back({">= 0.5x raw.mmap_copy.64B", r->ratio, 0.5, true});
        append_note(*r, num(r->records_per_s / rate("lmdb.append.64B"), 1) + "x lmdb.append.64B");
        if (const row* p = find_row("omstream.mapped_log.64B.prefaulted"))
            append_note(*r, "pre-faulted: " + num(p->records_per_s / rate("raw.mmap_copy.64B"), 2) + "x raw");
    }
    if (row* r = find_row("omstream.mapped_log.64B.batch64")) r->ratio = r->records_per_s / rate("raw.mmap_copy.64B");
    for (const char* n : {"omstream.mapped_log.64B.prefaulted", "omstream.mapped_log.64B.batch64.prefaulted",
                          "raw.mmap_copy.64B.faulting"})
        if (row* r = find_row(n)) r->ratio = r->records_per_s / rate("raw.mmap_copy.64B");
    if (find_row("omstream.mapped_log.64B") && find_row("lmdb.append.64B")) {
        row& r = add_row("omstream.mapped_log.64B.vs_lmdb");
        r.ratio = rate("omstream.mapped_log.64B") / rate("lmdb.append.64B");
        r.target = ">= 10x lmdb.append.64B";
        r.checks.push_back({">= 10x lmdb.append.64B", r.ratio, 10.0, true});
        r.note = "ratio = omstream.mapped_log.64B records/s (" + mega(rate("omstream.mapped_log.64B")) +
                 ") over lmdb.append.64B (" + mega(rate("lmdb.append.64B")) + "); batch64 over lmdb: " +
                 num(rate("omstream.mapped_log.64B.batch64") / rate("lmdb.append.64B"), 1) + "x";
        // Like for like: one record per append against one per LMDB transaction.
        if (find_row("lmdb.append.64B.txn1"))
            r.note += "; single appends over lmdb.append.64B.txn1 (one record per transaction): " +
                      num(rate("omstream.mapped_log.64B") / rate("lmdb.append.64B.txn1"), 1) + "x";
    }
    if (row* r = find_row("lmdb.append.64B.txn1")) r->ratio = r->records_per_s / rate("lmdb.append.64B");
    if (row* r = find_row("lmdb.append.64B")) r->ratio = 1.0;
    if (row* r = find_row("raw.mmap_copy.64B")) r->ratio = 1.0;
}

void print_table() {
    std::printf("\n%-44s %14s %9s %9s %9s %9s %7s %5s  %s\n", "name", "records_per_s", "p50_ns", "p99_ns", "p999_ns",
                "p9999_ns", "ratio", "met", "note");
    for (const auto& r : g_rows) {
        const std::string met = met_json(r.checks);
        std::printf("%-44s %14s %9s %9s %9s %9s %7s %5s  %s\n", r.name.c_str(), num(r.records_per_s).c_str(),
                    num(r.lat.p50, 1).c_str(), num(r.lat.p99, 1).c_str(), num(r.lat.p999, 1).c_str(),
                    num(r.lat.p9999, 1).c_str(), num(r.ratio, 2).c_str(), met == "null" ? "" : met.c_str(),
                    r.note.c_str());
    }
    std::printf("\ntargets:\n");
    for (const auto& r : g_rows)
        for (const auto& c : r.checks)
            std::printf("  %-36s %-36s %10s  %s\n", r.name.c_str(), c.text.c_str(), num(c.value, 2).c_str(),
                        !c.known() ? "n/a" : c.met() ? "met" : "MISSED");
}

std::string json_number(double v) { return std::isnan(v) || std::isinf(v) ? "null" : num(v, 3); }

void write_json(const char* path) {
    std::ofstream f(path);
    if (!f) {
        std::fprintf(stderr, "bench_mapped_log: cannot write %s\n", path);
        return;
    }
    f << "{\n  \"cpu\": " << json_string(cpu_model()) << ",\n  \"date\": " << json_string(today())
      << ",\n  \"smoke\": " << (smoke() ? "true" : "false") << ",\n  \"load_average_at_start\": " << json_string(g_load)
      << ",\n  \"rows\": [\n";
    for (std::size_t i = 0; i < g_rows.size(); ++i) {
        const row& r = g_rows[i];
        std::string list;
        for (const auto& c : r.checks)
            list += std::string(list.empty() ? "" : ", ") + "{\"target\": " + json_string(c.text) +
                    ", \"ratio\": " + json_number(c.value) +
                    ", \"met\": " + (!c.known() ? "null" : c.met() ? "true" : "false") + "}";
        f << "    {\"name\": " << json_string(r.name) << ", \"records_per_s\": " << json_number(r.records_per_s)
          << ", \"p50_ns\": " << json_number(r.lat.p50) << ", \"p99_ns\": " << json_number(r.lat.p99)
          << ", \"p999_ns\": " << json_number(r.lat.p999) << ", \"p9999_ns\": " << json_number(r.lat.p9999)
          << ", \"ratio\": " << json_number(r.ratio)
          << ", \"target\": " << (r.target.empty() ? "null" : json_string(r.target)) << ", \"met\": " << met_json(r.checks)
          << ", \"note\": " << json_string(r.note) << ", \"targets\": [" << list << "]";
        for (const auto& [k, v] : r.extra) f << ", " << json_string(k) << ": " << json_number(v);
        f << "}" << (i + 1 < g_rows.size() ? "," : "") << "\n";
    }
    f << "  ]\n}\n";
}

}  // namespace

int main() {
    std::signal(SIGALRM, on_parent_alarm);
    ::alarm(smoke() ? 60 : 900);
    std::signal(SIGPIPE, SIG_IGN);
    pin(0);

    std::string tmpl = (std::getenv("TMPDIR") && *std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : "/tmp") +
                       "/omstream-bench-log-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    std::error_code canon;
    g_dir = std::filesystem::canonical(tmpl, canon).string();  // as /proc/self/maps names the files
    if (canon) g_dir = tmpl;

    g_tick.calibrate();
    (void)omstream::detail::now_ns<std::chrono::system_clock>();  // the library's clock calibrates once (10 ms)

    g_load = load_average();
    std::printf("omstream mapped_log benchmark: %s, %s%s, load average %s\n", cpu_model().c_str(), today().c_str(),
                smoke() ? " (smoke)" : "", g_load.c_str());
    std::printf("throughput: %llu records x %d repetitions (pre-faulted rows %llu); latency: %llu samples after %llu "
                "warm-up, one every %lld ns; replay: %llu records; scratch %s\n",
                static_cast<unsigned long long>(records()), repetitions(),
                static_cast<unsigned long long>(prefaulted_records()),
                static_cast<unsigned long long>(latency_samples() / latency_rounds * latency_rounds),
                static_cast<unsigned long long>(latency_warmup()), static_cast<long long>(pace_ns),
                static_cast<unsigned long long>(replay_records()), g_dir.c_str());

    const auto t0 = steady_ns();
    bench_raw(true);
    bench_raw(false);
    bench_log_append(false, false);
    bench_log_append(true, false);
    bench_log_append(false, true);
    bench_log_append(true, true);
    bench_log_append_u64();
    bench_append_latency();
#if defined(OMSTREAM_HAVE_LMDB)
    bench_lmdb(lmdb_txn_records);
    bench_lmdb(1);
#else
    if (wanted("lmdb.append.64B")) add_row("lmdb.append.64B").note = "skipped: built without OMSTREAM_HAVE_LMDB";
#endif
    if (wanted("omstream.mapped_log.64B.latency") || wanted("floor.cacheline.log_run"))
        bench_latency("omstream.mapped_log.64B.latency", false, consumer_mode::poll_spin);
    bench_latency("omstream.mapped_log.64B.latency.prefaulted", true, consumer_mode::poll_spin);
    bench_latency("omstream.mapped_log.64B.latency.apply", false, consumer_mode::apply);
    bench_replay_recovery();

    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);

    assign_targets();
    print_table();
    std::printf("\n(%.1f s)\n", static_cast<double>(steady_ns() - t0) * 1e-9);
    if (const char* path = std::getenv("OMSTREAM_BENCH_JSON"); path != nullptr && *path != '\0') write_json(path);
    bool failed = false;
    for (const auto& r : g_rows) failed = failed || r.note.rfind("FAILED", 0) == 0;
    return failed ? 1 : 0;
}
