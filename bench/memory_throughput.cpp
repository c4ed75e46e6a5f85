// Throughput of omstream's memory<u64> stream between two threads, against
// single-producer/single-consumer queues (Boost.Lockfree spsc_queue and, when
// installed, moodycamel::ReaderWriterQueue), plus the cost of append alone.
//
// Every two-thread row moves `records` uint64 values 1..N from a producer (the
// benchmark thread, pinned to core 0) to a consumer thread (pinned to core 1)
// and checks that the consumer saw exactly N records summing to N(N+1)/2.
//
// Environment:
//   OMSTREAM_BENCH_SMOKE=1        200k records per run, 2 repetitions (CI smoke)
//   OMSTREAM_BENCH_RECORDS=N      records per run (default 10M; rounded up to 64)
//   OMSTREAM_BENCH_REPETITIONS=R  repetitions per row (default 5)
// Google Benchmark flags (--benchmark_filter=..., --benchmark_format=json) apply.

#include <omstream/stream.hpp>

#include <benchmark/benchmark.h>
#include <boost/lockfree/spsc_queue.hpp>

#if defined(OMSTREAM_HAVE_RWQ) || __has_include(<readerwriterqueue/readerwriterqueue.h>)
#include <readerwriterqueue/readerwriterqueue.h>
#define OMSTREAM_BENCH_RWQ 1
#endif

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <thread>

namespace {

using u64 = std::uint64_t;
using producer_t = omstream::stream<omstream::memory<u64>>;
using consumer_t = omstream::stream<omstream::memory<u64>, omstream::count_window>;

constexpr std::size_t batch = 64;              // window size and batch size
constexpr std::size_t queue_capacity = 65536;  // bound of every queue and stream

bool smoke() {
    const char* s = std::getenv("OMSTREAM_BENCH_SMOKE");
    return s != nullptr && *s != '\0' && std::string(s) != "0";
}

u64 env_number(const char* name, u64 fallback) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0')
        return fallback;
    const u64 v = std::strtoull(s, nullptr, 10);
    return v == 0 ? fallback : v;
}

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

// Pins the calling thread to `cpu`; a failure (fewer cores, a cpuset, no
// permission) leaves the thread where the scheduler puts it.
void pin(int cpu) {
    if (std::thread::hardware_concurrency() < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu), &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// What a consumer received: checked against N records summing to N(N+1)/2.
struct result {
    u64 sum = 0;
    u64 count = 0;
};

u64 expected_sum(u64 n) {
    return n * (n + 1) / 2;
}

void finish(benchmark::State& state, u64 n, const result& got) {
    if (got.count != n || got.sum != expected_sum(n)) {
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

template <std::size_t Batch, consumer_mode Mode>
void BM_omstream(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    std::string name;
    auto consume = [&](u64 n, std::atomic<bool>& ready) {
        auto c = consumer_t::open(name, omstream::size = batch);
        result r;
        auto fn = [&](const omstream::window<u64>& w) {
            u64 s = 0;
            for (u64 v : w)
                s += v;
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
        auto p = producer_t::open(name, omstream::capacity = capacity);
        if constexpr (Batch == 1) {
            for (u64 v = 1; v <= n; ++v)
                p.append(v);
        } else {
            std::array<u64, Batch> buf;
            for (u64 v = 1; v <= n; v += Batch) {
                for (std::size_t i = 0; i < Batch; ++i)
                    buf[i] = v + i;
                p.append(std::span<const u64>(buf));
            }
        }
    };
    const u64 n = records();
    pin(0);
    for (auto _ : state) {
        name = unique_name("tp");
        // Created here with its bound, before either side opens it.
        { auto create = producer_t::open(name, omstream::capacity = capacity); }
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
        omstream::memory<u64>::remove(name);
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
    auto p = std::make_unique<producer_t>(producer_t::open(name));
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
            p = std::make_unique<producer_t>(producer_t::open(name));
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

void register_all() {
    const int reps = repetitions();
    auto two = [&](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Repetitions(reps)->ReportAggregatesOnly(true)->Unit(
            benchmark::kMillisecond);
        if (smoke())
            b->Iterations(1);
    };
    const auto cap = static_cast<std::int64_t>(queue_capacity);
    two(benchmark::RegisterBenchmark("omstream/single/apply", BM_omstream<1, consumer_mode::apply>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream/batch64/apply",
                                     BM_omstream<batch, consumer_mode::apply>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream/single/poll_spin",
                                     BM_omstream<1, consumer_mode::poll_spin>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("omstream/batch64/poll_spin",
                                     BM_omstream<batch, consumer_mode::poll_spin>)
            ->Arg(cap));
    two(benchmark::RegisterBenchmark("spsc_queue/single", BM_spsc_queue<1>));
    two(benchmark::RegisterBenchmark("spsc_queue/batch64", BM_spsc_queue<batch>));
#ifdef OMSTREAM_BENCH_RWQ
    two(benchmark::RegisterBenchmark("reader_writer_queue/single", BM_reader_writer_queue));
#endif
    auto one = [&](benchmark::internal::Benchmark* b) {
        b->UseRealTime()->Repetitions(reps)->ReportAggregatesOnly(true)->Unit(
            benchmark::kNanosecond);
        if (smoke())
            b->MinTime(0.05);
    };
    one(benchmark::RegisterBenchmark("append_only/single", BM_append_only<1>));
    one(benchmark::RegisterBenchmark("append_only/batch64", BM_append_only<batch>));
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::AddCustomContext("records_per_run", std::to_string(records()));
    benchmark::AddCustomContext("queue_capacity", std::to_string(queue_capacity));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
