// Throughput of omstream's memory<u64> stream between two threads, against
// single-producer/single-consumer queues (Boost.Lockfree spsc_queue and, when
// installed, moodycamel::ReaderWriterQueue), plus the cost of append alone.
//
// Every two-thread row moves `records` values 1..N from a producer (the
// benchmark thread, pinned to core 0) to a consumer thread (pinned to core 1)
// and checks that the consumer saw exactly N records summing to N(N+1)/2.
// Benchmark names are the row names of results.json (docs/benchmarks.md).
//
// Environment:
//   OMSTREAM_BENCH_SMOKE=1        200k records per run, 2 repetitions (CI smoke)
//   OMSTREAM_BENCH_RECORDS=N      records per run (default 10M; rounded up to 64)
//   OMSTREAM_BENCH_REPETITIONS=R  repetitions per row (default 5)
//   OMSTREAM_BENCH_JSON=path      also write the medians as JSON rows there (bench/run)
// Google Benchmark flags (--benchmark_filter=..., --benchmark_format=json) apply.

#include <omstream/stream.hpp>

#include <benchmark/benchmark.h>
#include <boost/lockfree/spsc_queue.hpp>

#if defined(OMSTREAM_HAVE_RWQ) || __has_include(<readerwriterqueue/readerwriterqueue.h>)
#include <readerwriterqueue/readerwriterqueue.h>
#define OMSTREAM_BENCH_RWQ 1
#endif

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

template <class T = u64>
using producer_t = omstream::stream<omstream::memory<T>>;
template <class T = u64>
using consumer_t = omstream::stream<omstream::memory<T>, omstream::count_window>;

template <class T>
T make_record(u64 v) {
    if constexpr (std::is_same_v<T, u64>) {
        return v;
    } else {
        T r;
        std::fill(std::begin(r.v), std::end(r.v), v);
        return r;
    }
}
template <class T>
u64 record_value(const T& r) {
    if constexpr (std::is_same_v<T, u64>) {
        return r;
    } else {
        return r.v[7];
    }
}

constexpr std::size_t batch = 64;              // window size and batch size
constexpr std::size_t queue_capacity = 65536;  // bound of every queue and stream

u64 records() {
    static const u64 n = [] {
        const u64 v = env_number("OMSTREAM_BENCH_RECORDS", smoke() ? 200'000 : 10'000'000);
        return (v + batch - 1) / batch * batch;  // whole windows only
    }();
    return n;
}

int repetitions() {
    return static_cast<int>(env_number("OMSTREAM_BENCH_REPETITIONS", smoke() ? 2 : 5));
}

// What a consumer received: checked against N records summing to N(N+1)/2.
struct result {
    u64 sum = 0;
    u64 count = 0;
};

u64 expected_sum(u64 n) {
    return n * (n + 1) / 2;
}

// Errors since the last report: Google Benchmark 1.7 does not report a failed
// repetition once it has aggregates of the others, so the JSON rows learn of
// it here (a family's repetitions all run before its report).
int g_errors = 0;
std::string g_last_error;

void finish(benchmark::State& state, u64 n, const result& got) {
    if (got.count != n || got.sum != expected_sum(n)) {
        ++g_errors;
        g_last_error =
            "consumer got " + std::to_string(got.count) + " records of " + std::to_string(n);
        state.SkipWithError(("consumer got " + std::to_string(got.count) + " records, sum " +
                             std::to_string(got.sum) + "; expected " + std::to_string(n) +
                             ", sum " + std::to_string(expected_sum(n)))
                                .c_str());
    }
}

void report(benchmark::State& state, u64 n) {
    const auto items = static_cast<std::int64_t>(n) * state.iterations();
    state.SetItemsProcessed(items);
    state.counters["records_per_s"] =
        benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate);
}

// One iteration = one consumer thread on core 1 (`consume(n, ready)` sets
// ready once it can receive and returns what it got) and the producer
// `produce(n)` on the benchmark thread, pinned to core 0.
template <class Consume, class Produce>
void two_threads(benchmark::State& state, Consume consume, Produce produce) {
    const u64 n = records();
    pin(0);
    for (auto _ : state) {
        std::atomic<bool> ready{false};
        result got;
        std::thread consumer([&] {
            pin(1);
            got = consume(n, ready);
        });
        while (!ready.load(std::memory_order_acquire))
            std::this_thread::yield();
        produce(n);
        consumer.join();
        finish(state, n, got);
        benchmark::DoNotOptimize(got);
    }
    report(state, n);
}

std::string unique_name(const char* what) {
    static std::atomic<unsigned> counter{0};
    return std::string("bench-") + what + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1));
}

// --- (a), (b) omstream memory<u64> + count_window(64) -----------------------

enum class consumer_mode { apply, poll_spin };

template <class T, std::size_t Batch, consumer_mode Mode>
void BM_omstream(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    std::string name;
    auto consume = [&](u64 n, std::atomic<bool>& ready) {
        auto c = consumer_t<T>::open(name, omstream::size = batch);
        result r;
        auto fn = [&](const omstream::window<T>& w) {
            u64 s = 0;
            for (const T& v : w)
                s += record_value(v);
            r.sum += s;
            r.count += w.size();
            if constexpr (Mode == consumer_mode::apply)
                if (r.count >= n)
                    c.stop();
        };
        c.poll(fn);  // joins the group before the producer starts
        ready.store(true, std::memory_order_release);
        if constexpr (Mode == consumer_mode::apply) {
            c.apply(fn);
        } else {
            while (r.count < n)
                if (!c.poll(fn))
                    omstream::detail::cpu_relax();
        }
        return r;
    };
    auto produce = [&](u64 n) {
        auto p = producer_t<T>::open(name, omstream::capacity = capacity);
        if constexpr (Batch == 1) {
            for (u64 v = 1; v <= n; ++v)
                p.append(make_record<T>(v));
        } else {
            std::array<T, Batch> buf;
            for (u64 v = 1; v <= n; v += Batch) {
                for (std::size_t i = 0; i < Batch; ++i)
                    buf[i] = make_record<T>(v + i);
                p.append(std::span<const T>(buf));
            }
        }
    };
    const u64 n = records();
    pin(0);
    for (auto _ : state) {
        name = unique_name("tp");
        // Created here with its bound, before either side opens it.
        { auto create = producer_t<T>::open(name, omstream::capacity = capacity); }
        std::atomic<bool> ready{false};
        result got;
        std::thread consumer([&] {
            pin(1);
            got = consume(n, ready);
        });
        while (!ready.load(std::memory_order_acquire))
            std::this_thread::yield();
        produce(n);
        consumer.join();
        omstream::memory<T>::remove(name);
        finish(state, n, got);
        benchmark::DoNotOptimize(got);
    }
    report(state, n);
}

// --- (c) Boost.Lockfree spsc_queue ------------------------------------------

template <std::size_t Batch>
void BM_spsc_queue(benchmark::State& state) {
    std::unique_ptr<boost::lockfree::spsc_queue<u64>> q;
    auto consume = [&](u64 n, std::atomic<bool>& ready) {
        result r;
        ready.store(true, std::memory_order_release);
        if constexpr (Batch == 1) {
            u64 v;
            while (r.count < n) {
                if (q->pop(v)) {
                    r.sum += v;
                    ++r.count;
                } else {
                    omstream::detail::cpu_relax();
                }
            }
        } else {
            std::array<u64, Batch> buf;
            while (r.count < n) {
                const std::size_t got = q->pop(buf.data(), Batch);
                if (got == 0) {
                    omstream::detail::cpu_relax();
                    continue;
                }
                u64 s = 0;
                for (std::size_t i = 0; i < got; ++i)
                    s += buf[i];
                r.sum += s;
                r.count += got;
            }
        }
        return r;
    };
    auto produce = [&](u64 n) {
        if constexpr (Batch == 1) {
            for (u64 v = 1; v <= n; ++v)
                while (!q->push(v))
                    omstream::detail::cpu_relax();
        } else {
            std::array<u64, Batch> buf;
            for (u64 v = 1; v <= n; v += Batch) {
                for (std::size_t i = 0; i < Batch; ++i)
                    buf[i] = v + i;
                std::size_t done = 0;
                while (done < Batch) {
                    const std::size_t pushed = q->push(buf.data() + done, Batch - done);
                    if (pushed == 0)
                        omstream::detail::cpu_relax();
                    done += pushed;
                }
            }
        }
    };
    q = std::make_unique<boost::lockfree::spsc_queue<u64>>(queue_capacity);
    two_threads(state, consume, produce);
}

// --- (d) moodycamel::ReaderWriterQueue --------------------------------------

#ifdef OMSTREAM_BENCH_RWQ
void BM_reader_writer_queue(benchmark::State& state) {
    // try_enqueue: bounded like the others (enqueue would allocate when full).
    moodycamel::ReaderWriterQueue<u64> q(queue_capacity);
    auto consume = [&](u64 n, std::atomic<bool>& ready) {
        result r;
        ready.store(true, std::memory_order_release);
        u64 v;
        while (r.count < n) {
            if (q.try_dequeue(v)) {
                r.sum += v;
                ++r.count;
            } else {
                omstream::detail::cpu_relax();
            }
        }
        return r;
    };
    auto produce = [&](u64 n) {
        for (u64 v = 1; v <= n; ++v)
            while (!q.try_enqueue(v))
                omstream::detail::cpu_relax();
    };
    two_threads(state, consume, produce);
}
#endif

// --- (e) append alone --------------------------------------------------------
// No consumer group: nothing is ever released, so the stream is dropped and
// reopened (outside the timing) every `per_stream` records (32 MiB of frames).

template <std::size_t Batch>
void BM_append_only(benchmark::State& state) {
    constexpr u64 per_stream = 1u << 20;
    std::string name = unique_name("append");
    auto p = std::make_unique<producer_t<>>(producer_t<>::open(name));
    std::array<u64, Batch> buf{};
    u64 in_stream = 0, v = 0;
    for (auto _ : state) {
        if constexpr (Batch == 1) {
            p->append(++v);
        } else {
            for (auto& b : buf)
                b = ++v;
            p->append(std::span<const u64>(buf));
        }
        in_stream += Batch;
        if (in_stream >= per_stream) {
            state.PauseTiming();
            p.reset();
            omstream::memory<u64>::remove(name);
            name = unique_name("append");
            p = std::make_unique<producer_t<>>(producer_t<>::open(name));
            in_stream = 0;
            state.ResumeTiming();
        }
    }
    p.reset();
    omstream::memory<u64>::remove(name);
    const auto items = static_cast<std::int64_t>(Batch) * state.iterations();
    state.SetItemsProcessed(items);
    state.counters["records_per_s"] =
        benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate);
    // Seconds per append call and per record (the same for single appends);
    // the console shows them with an SI prefix (e.g. 95.2ns), JSON in seconds.
    state.counters["ns_per_append"] =
        benchmark::Counter(static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["ns_per_record"] = benchmark::Counter(
        static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// --- (f) the floor of a single append ----------------------------------------
// What every single append must do whatever the design: stamp the record
// (`created`, S4: one read of omstream's cheap wall clock) and, with more than
// one producer possible, claim its place with one locked read-modify-write.
// floor.clock_read is the first alone, floor.timestamped_claim both.

template <bool Claim>
void BM_append_floor(benchmark::State& state) {
    std::atomic<u64> tail{0};
    u64 sink = 0;
    for (auto _ : state) {
        sink += static_cast<u64>(omstream::detail::realtime_ns());
        if constexpr (Claim)
            sink += tail.fetch_add(1, std::memory_order_acq_rel);
        benchmark::DoNotOptimize(sink);
    }
    const auto calls = static_cast<double>(state.iterations());
    state.SetItemsProcessed(state.iterations());
    state.counters["records_per_s"] = benchmark::Counter(calls, benchmark::Counter::kIsRate);
    state.counters["ns_per_append"] =
        benchmark::Counter(calls, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void register_all() {
    const int reps = repetitions();
    auto two = [&](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Repetitions(reps)->ReportAggregatesOnly(true)->Unit(
            benchmark::kMillisecond);
        if (smoke())
            b->Iterations(1);
    };
    const auto cap = static_cast<std::int64_t>(queue_capacity);
    two(benchmark::RegisterBenchmark("omstream.memory.u64",
                                     BM_omstream<u64, 1, consumer_mode::apply>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream.memory.u64.batch64",
                                     BM_omstream<u64, batch, consumer_mode::apply>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream.memory.u64.poll_spin",
                                     BM_omstream<u64, 1, consumer_mode::poll_spin>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream.memory.u64.batch64.poll_spin",
                                     BM_omstream<u64, batch, consumer_mode::poll_spin>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream.memory.64B",
                                     BM_omstream<rec64, 1, consumer_mode::apply>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("boost.lockfree.spsc.u64", BM_spsc_queue<1>));
    two(benchmark::RegisterBenchmark("boost.lockfree.spsc.u64.batch64", BM_spsc_queue<batch>));
#ifdef OMSTREAM_BENCH_RWQ
    two(benchmark::RegisterBenchmark("moodycamel.rwq.u64", BM_reader_writer_queue));
#endif
    auto one = [&](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Repetitions(reps)->ReportAggregatesOnly(true)->Unit(
            benchmark::kNanosecond);
        if (smoke())
            b->MinTime(0.05);
    };
    one(benchmark::RegisterBenchmark("omstream.memory.u64.append_only", BM_append_only<1>));
    one(benchmark::RegisterBenchmark("omstream.memory.u64.batch64.append_only",
                                     BM_append_only<batch>));
    one(benchmark::RegisterBenchmark("floor.clock_read", BM_append_floor<false>));
    one(benchmark::RegisterBenchmark("floor.timestamped_claim", BM_append_floor<true>));
}

// --- JSON rows (OMSTREAM_BENCH_JSON) -----------------------------------------
// The per-binary format bench/run merges: {"cpu", "date", "smoke", "rows": [{name,
// records_per_s, p50_ns, p99_ns, p999_ns, ratio, target, met, note, targets}]}.

struct row {
    std::string name;
    double records_per_s = NAN;
    double ns_per_append = NAN;  // append_only rows
    int repetitions = 0;
    std::string error;
};

// Keeps the console output and collects each family's median (or its error).
class collecting_reporter : public benchmark::ConsoleReporter {
  public:
    std::vector<row> rows;

    // Colours only on a terminal, like the default reporter (bench/run logs to a file).
    collecting_reporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            row& r = find(run.run_name.function_name);
            if (run.error_occurred) {
                r.error = run.error_message;
            } else if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
                r.records_per_s = counter(run, "records_per_s");
                r.ns_per_append = counter(run, "ns_per_append") * 1e9;  // reported in seconds
                r.repetitions = static_cast<int>(run.repetitions);
            }
        }
        if (g_errors > 0 && !runs.empty()) {  // a repetition failed but the others made a median
            find(runs.front().run_name.function_name).error =
                std::to_string(g_errors) + " repetition(s) failed: " + g_last_error;
            g_errors = 0;
        }
    }

  private:
    row& find(const std::string& name) {
        for (auto& r : rows)
            if (r.name == name)
                return r;
        rows.emplace_back();
        rows.back().name = name;
        return rows.back();
    }
    static double counter(const Run& run, const char* name) {
        const auto it = run.counters.find(name);
        return it == run.counters.end() ? NAN : it->second.value;
    }
};

std::string json_number(double v) {
    if (!std::isfinite(v))
        return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

// One target of a row: ratio against bound (at least).
struct target {
    std::string text;
    double ratio;
    double bound;
    bool known() const { return std::isfinite(ratio); }
    const char* met_json() const { return !known() ? "null" : ratio >= bound ? "true" : "false"; }
};

void write_json(const char* path, const std::vector<row>& rows) {
    auto rate = [&](const char* name) {
        for (const auto& r : rows)
            if (r.name == name && r.error.empty())
                return r.records_per_s;
        return double{NAN};
    };
    // The targets for memory<u64>: >= 0.5x the faster in-process peer
    // (single records) and >= 50 M records/s. fmax skips a peer that failed (NaN).
    std::string peer_names = "boost.lockfree.spsc.u64";
    double best_peer = rate("boost.lockfree.spsc.u64");
#ifdef OMSTREAM_BENCH_RWQ
    peer_names = "moodycamel.rwq.u64, " + peer_names;
    best_peer = std::fmax(best_peer, rate("moodycamel.rwq.u64"));
#endif
    const double om = rate("omstream.memory.u64");
    const std::vector<target> memory_targets = {
        {">= 0.5x max(" + peer_names + ")", om / best_peer, 0.5},
        {">= 50M records/s", om / 50e6, 1.0},
    };

    std::ofstream f(path);
    if (!f) {
        std::fprintf(stderr, "bench_memory_throughput: cannot write %s\n", path);
        return;
    }
    f << "{\n  \"cpu\": " << json_string(cpu_model()) << ",\n  \"date\": " << json_string(today())
      << ",\n  \"smoke\": " << (smoke() ? "true" : "false") << ",\n  \"rows\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const row& r = rows[i];
        std::string note = r.error.empty()
                               ? "median of " + std::to_string(r.repetitions) + " runs of " +
                                     std::to_string(records()) + " records, two threads"
                               : "FAILED: " + r.error;
        if (r.name.rfind("floor.", 0) == 0 && r.error.empty()) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "%.1f ns per call: at most %.0f M single appends/s",
                          r.ns_per_append, 1e3 / r.ns_per_append);
            note = buf;
        } else if (r.name.find("append_only") != std::string::npos && r.error.empty()) {
            char buf[120];
            std::snprintf(buf, sizeof buf, "append alone, no consumer: %.1f ns per append call",
                          r.ns_per_append);
            note = buf;
        }
        std::vector<target> ts;
        if (r.name == "omstream.memory.u64")
            ts = memory_targets;
        // met: false if a target is missed, null if one cannot be evaluated, else true.
        std::string met = ts.empty() ? "null" : "true", target_text, list;
        for (const auto& t : ts) {
            if (std::string(t.met_json()) == "false" || (!t.known() && met == "true"))
                met = t.met_json();
            target_text += (target_text.empty() ? "" : "; ") + t.text;
            list += std::string(list.empty() ? "" : ", ") + "{\"target\": " + json_string(t.text) +
                    ", \"ratio\": " + json_number(t.ratio) + ", \"met\": " + t.met_json() + "}";
        }
        f << "    {\"name\": " << json_string(r.name)
          << ", \"records_per_s\": " << json_number(r.error.empty() ? r.records_per_s : NAN)
          << ", \"p50_ns\": null, \"p99_ns\": null, \"p999_ns\": null"
          << ", \"ratio\": " << json_number(ts.empty() ? NAN : ts.front().ratio)
          << ", \"target\": " << (ts.empty() ? "null" : json_string(target_text))
          << ", \"met\": " << met << ", \"note\": " << json_string(note) << ", \"targets\": ["
          << list << "]}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    f << "  ]\n}\n";
    for (const auto& t : memory_targets)
        std::printf("omstream.memory.u64 %s: %s\n", t.text.c_str(),
                    (json_number(t.ratio) + "x").c_str());
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::AddCustomContext("records_per_run", std::to_string(records()));
    benchmark::AddCustomContext("queue_capacity", std::to_string(queue_capacity));
    const char* json = std::getenv("OMSTREAM_BENCH_JSON");
    if (json == nullptr || *json == '\0') {
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
        return 0;
    }
    // With JSON the console reporter is ours (it collects the medians), so
    // --benchmark_format does not apply to the console then.
    collecting_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    write_json(json, reporter.rows);
    bool failed = false;
    for (const auto& r : reporter.rows)
        failed = failed || !r.error.empty();
    return failed ? 1 : 0;
}
