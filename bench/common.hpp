// What the benchmarks share: configuration from the environment, pinning,
// memory shared with a forked child, deadlines, the TSC ticker,
// percentiles, target checks and the report helpers. Each benchmark is one
// translation unit that includes this once, so everything sits in an
// unnamed namespace; the functions are inline so that a benchmark that
// uses only some of them compiles without warnings.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define OMSTREAM_BENCH_TSC 1
#endif

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using u64 = std::uint64_t;

// The 64-byte record of the *.64B rows: the value in every word.
struct rec64 {
    u64 v[8];
};
static_assert(sizeof(rec64) == 64 && std::is_trivially_copyable_v<rec64>);

inline bool smoke() {
    static const bool s = [] {
        const char* v = std::getenv("OMSTREAM_BENCH_SMOKE");
        return v != nullptr && *v != '\0' && std::string(v) != "0";
    }();
    return s;
}

inline u64 env_number(const char* name, u64 fallback) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0')
        return fallback;
    const u64 v = std::strtoull(s, nullptr, 10);
    return v == 0 ? fallback : v;
}

inline void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);  // fewer CPUs or a cpuset: stay where we are
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

inline std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Memory shared with the child: MAP_SHARED|MAP_ANONYMOUS, set up before fork.
inline void* shared_alloc(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    std::memset(p, 0, bytes);
    return p;
}

struct deadline {
    std::int64_t at;
    explicit deadline(double seconds)
        : at(steady_ns() + static_cast<std::int64_t>(seconds * 1e9)) {}
    bool passed() const { return steady_ns() > at; }
};

template <class F>
bool spin_until(F&& done, const deadline& d) {
    for (u64 i = 1;; ++i) {
        if (done())
            return true;
        if ((i & 0xfff) == 0 && d.passed())
            return false;
        cpu_relax();
    }
}

struct phase_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Latencies are timed with the TSC (calibrated against steady_clock), read
// in both processes: the invariant TSC is one clock for every CPU of a host.
struct ticker {
    double ns_per_tick = 1.0;
    void calibrate() {
#if defined(OMSTREAM_BENCH_TSC)
        const auto t0 = steady_ns();
        const u64 c0 = __rdtsc();
        std::this_thread::sleep_for(std::chrono::milliseconds(smoke() ? 20 : 100));
        const auto t1 = steady_ns();
        const u64 c1 = __rdtsc();
        ns_per_tick = static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
#endif
    }
    static u64 now() {
#if defined(OMSTREAM_BENCH_TSC)
        _mm_lfence();
        const u64 t = __rdtsc();
        _mm_lfence();
        return t;
#else
        return static_cast<u64>(steady_ns());
#endif
    }
    u64 ticks(double ns) const {
        return static_cast<u64>(ns / ns_per_tick);
    }
};
ticker g_tick;

struct stats {
    double p50 = NAN, p99 = NAN, p999 = NAN, p9999 = NAN;
    std::size_t n = 0;
};

inline stats percentiles(std::vector<double> v) {
    stats s;
    s.n = v.size();
    if (v.empty())
        return s;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size()));
        return v[std::min(i, v.size() - 1)];
    };
    s.p50 = at(0.50);
    s.p99 = at(0.99);
    s.p999 = at(0.999);
    s.p9999 = at(0.9999);
    return s;
}

// One target of a row: `value` against `bound`, at least or at most.
struct check {
    std::string text;  // e.g. ">= 0.3x boost.lockfree.spsc_shm.u64"
    double value;
    double bound;
    bool at_least;  // value >= bound (else <=)
    bool known() const { return std::isfinite(value); }
    bool met() const { return known() && (at_least ? value >= bound : value <= bound); }
    const char* met_json() const { return !known() ? "null" : met() ? "true" : "false"; }
};

inline const char* met_json(const std::vector<check>& cs) {
    if (cs.empty())
        return "null";
    bool unknown = false;
    for (const auto& c : cs) {
        if (c.known() && !c.met())
            return "false";
        unknown = unknown || !c.known();
    }
    return unknown ? "null" : "true";
}

struct alignas(64) pingpong_line {
    std::atomic<u64> word{0};
};

inline std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    std::string line, model, family, mod;
    auto value = [](const std::string& l) {
        const auto c = l.find(':');
        return c == std::string::npos ? std::string() : l.substr(c + 2);
    };
    while (std::getline(f, line)) {
        if (model.empty() && line.rfind("model name", 0) == 0)
            model = value(line);
        if (family.empty() && line.rfind("cpu family", 0) == 0)
            family = value(line);
        if (mod.empty() && line.rfind("model\t", 0) == 0)
            mod = value(line);
    }
    return model + " (family " + family + ", model " + mod + ", " +
           std::to_string(std::thread::hardware_concurrency()) + " CPUs)";
}

inline std::string today() {
    const std::time_t t = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
            continue;
        }
        out += c;
    }
    return out + "\"";
}

}  // namespace
