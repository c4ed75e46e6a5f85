// Cross-process benchmark of omstream's shm_ring: two processes (fork), the
// parent pinned to CPU 0 and the child to CPU 1 (a failure to pin is ignored).
//
//  1. floor.cacheline      one-way latency of a cache-line ping-pong through an
//                          anonymous MAP_SHARED mapping (round trip / 2)
//  2. omstream.shm_ring.*  one-way latency, 8-byte and 64-byte records: A appends
//                          on "ping", B polls it and appends on "pong" from its
//                          callback, A polls "pong" and reads the clock in its
//                          callback (round trip / 2: from an append to the
//                          callback that gets the record); ratio to the floor, which is
//                          measured again in blocks interleaved with the samples
//  3. throughput, 8-byte records, producer process -> consumer process:
//     omstream single and batch-of-64 appends, Boost.Lockfree spsc_queue in
//     shared memory (single and batch 64), Boost.Interprocess message_queue,
//     ZeroMQ ipc:// PUSH/PULL (when built with OMSTREAM_HAVE_ZMQ), a pipe
//  4. omstream.shm_ring.wakeup    latency seen by a consumer asleep in apply()
//                                 (record every ~2 ms; now - created, system_clock)
//     omstream.shm_ring.idle_cpu  CPU used by a consumer idle in apply()
//
// Environment:
//   OMSTREAM_BENCH_SMOKE=1     small counts: the whole run takes a few seconds (CI)
//   OMSTREAM_BENCH_JSON=path   also write the rows as JSON there (the per-binary
//                              format bench/run merges; docs/benchmarks.md)
//   OMSTREAM_BENCH_SAMPLES=N   latency round trips (default 100000)
//   OMSTREAM_BENCH_RECORDS=N   records per throughput row for the shared-memory
//                              peers (default 10M; the syscall peers move N/10)
//   OMSTREAM_BENCH_FILTER=s    only the rows whose name contains s (and their floor)
//
// Every child process carries an alarm() and the parent kills a child that
// overruns its deadline, so a broken peer fails its row instead of hanging.

#include <omstream/stream.hpp>

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#if defined(OMSTREAM_HAVE_ZMQ)
#include <zmq.h>
#endif

#include "common.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
using steady = std::chrono::steady_clock;

template <class T>
using producer_t = omstream::stream<omstream::shm_ring<T>>;
template <class T>
using consumer_t = omstream::stream<omstream::shm_ring<T>, omstream::count_window>;

constexpr std::size_t batch = 64;
constexpr std::size_t ring_capacity = 65536;

// --- configuration -----------------------------------------------------------

u64 latency_samples() { return env_number("OMSTREAM_BENCH_SAMPLES", smoke() ? 5'000 : 100'000); }
// Warm-up: more than one lap of the 65,536-slot rings, so that every page of
// the segments is mapped before sampling (first-touch page faults cost
// 5-40 us each in this VM and would otherwise fill the tail percentiles).
u64 latency_warmup() { return ring_capacity + (smoke() ? 1'000 : 10'000); }
u64 fast_records() {
    const u64 n = env_number("OMSTREAM_BENCH_RECORDS", smoke() ? 200'000 : 10'000'000);
    return (n + batch - 1) / batch * batch;
}
u64 slow_records() { return std::max<u64>(fast_records() / 10 / batch * batch, batch); }
int wakeup_samples() { return smoke() ? 40 : 1000; }
std::chrono::milliseconds idle_period() { return std::chrono::milliseconds(smoke() ? 300 : 1000); }
unsigned child_alarm_s() { return smoke() ? 20 : 180; }
double phase_deadline_s() { return smoke() ? 20.0 : 180.0; }

// --- processes ---------------------------------------------------------------

std::int64_t system_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

volatile sig_atomic_t g_child = 0;

// Last resort for the parent: kill the child, leave.
void on_parent_alarm(int) {
    if (g_child > 0) ::kill(g_child, SIGKILL);
    const char msg[] = "bench_ipc: global timeout, giving up\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(3);
}

// What parent and child tell each other.
struct alignas(64) control {
    std::atomic<int> ready{0};   // child: set up (joined, bound, ...)
    std::atomic<int> start{0};   // parent: go
    std::atomic<int> failed{0};  // child: something went wrong
    std::atomic<std::int64_t> end_ns{0};
    std::atomic<u64> received{0};
    std::atomic<u64> sum{0};
    char error[256];
};

// Runs `child_fn` in a child process on CPU 1 and `parent_fn` here on CPU 0;
// kills the child if it is still running once the parent is done plus a grace period.
template <class ChildFn, class ParentFn>
void run_pair(control* ctl, ChildFn&& child_fn, ParentFn&& parent_fn) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw phase_error("fork failed");
    if (pid == 0) {
        std::signal(SIGALRM, SIG_DFL);  // the child's alarm kills it (the parent reports the signal)
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
        parent_fn(pid);
    } catch (const std::exception& e) {
        failure = e.what();
    }
    // Reap the child; kill it if it does not finish soon.
    const deadline d(failure.empty() ? phase_deadline_s() : 0.5);
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0) break;
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

// Child side: tell the parent we are ready, wait for go.
void child_ready_wait_start(control* ctl) {
    ctl->ready.store(1, std::memory_order_release);
    if (!spin_until([&] { return ctl->start.load(std::memory_order_acquire) != 0; }, deadline(phase_deadline_s())))
        throw phase_error("parent never started");
}
void parent_wait_ready(control* ctl) {
    if (!spin_until([&] { return ctl->ready.load(std::memory_order_acquire) != 0 || ctl->failed.load() != 0; },
                    deadline(phase_deadline_s())))
        throw phase_error("child never got ready");
    if (ctl->failed.load()) throw phase_error(ctl->error);
}

// --- results -----------------------------------------------------------------

struct row {
    std::string name;
    double records_per_s = NAN;
    stats lat;
    stats floor;  // latency rows: the floor measured interleaved with them
    double ratio = NAN;
    std::string note;
    std::vector<check> checks;  // set by assign_targets() once every row has run
};

std::vector<row> g_rows;

// Rows are found by name: the u64 row carries both its latency and its throughput.
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

std::string num(double v, int precision = 0);

void append_note(row& r, const std::string& note) { r.note = r.note.empty() ? note : r.note + "; " + note; }

std::string unique(const char* what) { return std::string("omstream-bench-ipc-") + what + "-" + std::to_string(::getpid()); }

// --- 1. floor: cache-line ping-pong --------------------------------------------

void bench_floor() {
    row& r = add_row("floor.cacheline");
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    auto* line = new (shared_alloc(sizeof(pingpong_line))) pingpong_line;
    const u64 warm = latency_warmup() - ring_capacity, n = latency_samples(), total = warm + n;  // no ring to lap
    std::vector<double> rtt;
    rtt.reserve(n);
    try {
        run_pair(
            ctl,
            [&] {
                child_ready_wait_start(ctl);
                for (u64 i = 0; i < total; ++i) {
                    const u64 expect = 2 * i + 1;
                    while (line->word.load(std::memory_order_acquire) != expect) cpu_relax();
                    line->word.store(expect + 1, std::memory_order_release);
                }
            },
            [&](pid_t) {
                parent_wait_ready(ctl);
                ctl->start.store(1, std::memory_order_release);
                const deadline d(phase_deadline_s());
                for (u64 i = 0; i < total; ++i) {
                    const u64 t0 = ticker::now();
                    line->word.store(2 * i + 1, std::memory_order_release);
                    u64 spins = 0;
                    while (line->word.load(std::memory_order_acquire) != 2 * i + 2) {
                        cpu_relax();
                        if ((++spins & 0xfffff) == 0 && d.passed()) throw phase_error("floor: no answer");
                    }
                    const u64 t1 = ticker::now();
                    if (i >= warm) rtt.push_back(static_cast<double>(t1 - t0) * g_tick.ns_per_tick / 2);
                }
            });
        r.lat = percentiles(std::move(rtt));
        r.ratio = 1.0;
        r.note = std::to_string(n) + " samples, one-way = RTT/2";
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what();
    }
    ::munmap(ctl, sizeof(control));
    ::munmap(line, sizeof(pingpong_line));
}

// --- 2. omstream ping-pong latency --------------------------------------------

template <class T>
T make_record(u64 i) {
    if constexpr (std::is_same_v<T, u64>) {
        return i;
    } else {
        T r{};
        for (auto& w : r.v) w = i;
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

// The cache-line floor moves with the host (this guest's two vCPUs land on
// different host cores over time: 65 ns one minute, 200 ns the next), so
// every omstream latency row also measures the floor itself, interleaved
// with its own samples in rounds, and reports its ratios against that.
constexpr u64 latency_rounds = 20;

template <class T>
void bench_shm_latency(const std::string& name) {
    row& r = add_row(name);
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    auto* line = new (shared_alloc(sizeof(pingpong_line))) pingpong_line;
    const std::string ping = unique("ping"), pong = unique("pong");
    omstream::shm_ring<T>::remove(ping);
    omstream::shm_ring<T>::remove(pong);
    const u64 warm = latency_warmup(), per_round = std::max<u64>(latency_samples() / latency_rounds, 1);
    const u64 n = per_round * latency_rounds;
    std::vector<double> rtt, floor_rtt;
    rtt.reserve(n);
    floor_rtt.reserve(n);
    try {
        run_pair(
            ctl,
            [&] {
                auto in = consumer_t<T>::open(ping, omstream::capacity = ring_capacity, omstream::size = 1);
                auto out = producer_t<T>::open(pong, omstream::capacity = ring_capacity);
                u64 seq = 0, word = 0;
                bool in_order = true;
                // The echo goes out from inside the callback, as soon as the
                // record is delivered; the commit of its window follows.
                auto fn = [&](const omstream::window<T>& w) {
                    for (const auto& rec : w) {
                        in_order = in_order && record_value(rec) == seq;
                        out.append(make_record<T>(seq));
                    }
                };
                in.poll([](const omstream::window<T>&) {});  // joins the group before the parent appends
                child_ready_wait_start(ctl);
                auto echo = [&](u64 count) {
                    for (u64 i = 0; i < count; ++i, ++seq) {
                        while (!in.poll(fn)) {
                        }
                        if (!in_order) throw phase_error("ping: out of order");
                    }
                };
                auto floor_echo = [&](u64 count) {
                    for (u64 i = 0; i < count; ++i, word += 2) {
                        while (line->word.load(std::memory_order_acquire) != word + 1) cpu_relax();
                        line->word.store(word + 2, std::memory_order_release);
                    }
                };
                echo(warm);
                floor_echo(latency_warmup() - ring_capacity);
                for (u64 round = 0; round < latency_rounds; ++round) {
                    floor_echo(per_round);
                    echo(per_round);
                }
            },
            [&](pid_t) {
                auto out = producer_t<T>::open(ping, omstream::capacity = ring_capacity);
                auto in = consumer_t<T>::open(pong, omstream::capacity = ring_capacity, omstream::size = 1);
                u64 got = 0, seq = 0, word = 0, t1 = 0;
                // The clock stops when the echo is delivered, before its commit.
                auto fn = [&](const omstream::window<T>& w) {
                    t1 = ticker::now();
                    for (const auto& rec : w) got = record_value(rec);
                };
                in.poll(fn);
                parent_wait_ready(ctl);
                ctl->start.store(1, std::memory_order_release);
                const deadline d(phase_deadline_s());
                auto ping_pong = [&](u64 count, bool keep) {
                    for (u64 i = 0; i < count; ++i, ++seq) {
                        const u64 t0 = ticker::now();
                        out.append(make_record<T>(seq));
                        u64 spins = 0;
                        while (!in.poll(fn)) {
                            if ((++spins & 0xffff) == 0 && (d.passed() || ctl->failed.load()))
                                throw phase_error("pong: no answer");
                        }
                        if (got != seq) throw phase_error("pong: out of order");
                        if (keep) rtt.push_back(static_cast<double>(t1 - t0) * g_tick.ns_per_tick / 2);
                    }
                };
                auto floor_ping = [&](u64 count, bool keep) {
                    for (u64 i = 0; i < count; ++i, word += 2) {
                        const u64 t0 = ticker::now();
                        line->word.store(word + 1, std::memory_order_release);
                        u64 spins = 0;
                        while (line->word.load(std::memory_order_acquire) != word + 2) {
                            cpu_relax();
                            if ((++spins & 0xfffff) == 0 && d.passed()) throw phase_error("floor: no answer");
                        }
                        const u64 t1 = ticker::now();
                        if (keep) floor_rtt.push_back(static_cast<double>(t1 - t0) * g_tick.ns_per_tick / 2);
                    }
                };
                ping_pong(warm, false);
                floor_ping(latency_warmup() - ring_capacity, false);
                for (u64 round = 0; round < latency_rounds; ++round) {
                    floor_ping(per_round, true);
                    ping_pong(per_round, true);
                }
            });
        r.lat = percentiles(std::move(rtt));
        r.floor = percentiles(std::move(floor_rtt));
        r.ratio = r.lat.p50 / r.floor.p50;
        char buf[240];
        std::snprintf(buf, sizeof buf, "%llu samples; interleaved floor p50 %.1f ns, p99.9 %.1f ns",
                      static_cast<unsigned long long>(n), r.floor.p50, r.floor.p999);
        r.note = buf;
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what();
    }
    omstream::shm_ring<T>::remove(ping);
    omstream::shm_ring<T>::remove(pong);
    ::munmap(ctl, sizeof(control));
    ::munmap(line, sizeof(pingpong_line));
}

// --- 3. throughput --------------------------------------------------------------

// One throughput row: `setup` runs in the parent before fork, `consume`
// (child) must receive values 1..n and add them to ctl->sum, `produce`
// (parent) sends them. records/s = n / (consumer's last receipt - producer's start).
template <class Setup, class Consume, class Produce, class Teardown>
void throughput_row(const std::string& name, u64 n, Setup&& setup, Consume&& consume, Produce&& produce,
                    Teardown&& teardown) {
    row& r = add_row(name);
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    try {
        setup();
        std::int64_t start_ns = 0;
        run_pair(
            ctl,
            [&] {
                consume(ctl, n);  // calls child_ready_wait_start itself, once set up
                ctl->end_ns.store(steady_ns());
            },
            [&](pid_t) {
                parent_wait_ready(ctl);
                ctl->start.store(1, std::memory_order_release);
                start_ns = steady_ns();
                produce(ctl, n);
            });
        const u64 expect = n * (n + 1) / 2;
        if (ctl->sum.load() != expect || ctl->received.load() != n)
            throw phase_error("consumer received " + std::to_string(ctl->received.load()) + " records, sum " +
                              std::to_string(ctl->sum.load()) + " (expected " + std::to_string(n) + ", " +
                              std::to_string(expect) + ")");
        const double seconds = static_cast<double>(ctl->end_ns.load() - start_ns) * 1e-9;
        r.records_per_s = static_cast<double>(n) / seconds;
        append_note(r, "records/s over " + std::to_string(n) + " records");
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what() + (r.note.empty() ? "" : "; " + r.note);
    }
    try {
        teardown();
    } catch (...) {
    }
    ::munmap(ctl, sizeof(control));
}

// Child-side receive loop helper: `pop(v)` returns the number of values it put in v (0: none yet).
void check_deadline(u64& spins, const deadline& d) {
    if ((++spins & 0xfffff) == 0 && d.passed()) throw phase_error("timed out receiving");
}

void bench_omstream_throughput(bool batched) {
    const std::string name = unique(batched ? "tput-batch" : "tput-single");
    omstream::shm_ring<u64>::remove(name);
    throughput_row(
        batched ? "omstream.shm_ring.u64.batch64" : "omstream.shm_ring.u64", fast_records(), [] {},
        [&](control* ctl, u64 n) {
            auto c = consumer_t<u64>::open(name, omstream::capacity = ring_capacity, omstream::size = batch);
            u64 received = 0, sum = 0;
            auto fn = [&](const omstream::window<u64>& w) {
                for (u64 v : w) sum += v;
                received += w.size();
            };
            c.poll(fn);  // join before the producer starts
            child_ready_wait_start(ctl);
            const deadline d(phase_deadline_s());
            u64 spins = 0;
            while (received < n)
                if (!c.poll(fn)) check_deadline(spins, d);
            ctl->received.store(received);
            ctl->sum.store(sum);
        },
        [&](control*, u64 n) {
            auto p = producer_t<u64>::open(name, omstream::capacity = ring_capacity);
            if (batched) {
                std::array<u64, batch> a;
                for (u64 v = 1; v <= n; v += batch) {
                    for (std::size_t k = 0; k < batch; ++k) a[k] = v + k;
                    p.append(std::span<const u64>(a));
                }
            } else {
                for (u64 v = 1; v <= n; ++v) p.append(v);
            }
        },
        [&] { omstream::shm_ring<u64>::remove(name); });
}

using spsc_t = boost::lockfree::spsc_queue<u64, boost::lockfree::capacity<ring_capacity>>;

void bench_spsc_throughput(bool batched) {
    spsc_t* q = nullptr;
    throughput_row(
        batched ? "boost.lockfree.spsc_shm.u64.batch64" : "boost.lockfree.spsc_shm.u64", fast_records(),
        [&] { q = new (shared_alloc(sizeof(spsc_t))) spsc_t; },  // compile-time capacity: no heap pointers
        [&](control* ctl, u64 n) {
            child_ready_wait_start(ctl);
            const deadline d(phase_deadline_s());
            u64 received = 0, sum = 0, spins = 0;
            if (batched) {
                std::array<u64, batch> a;
                while (received < n) {
                    const std::size_t k = q->pop(a.data(), batch);
                    if (k == 0) {
                        check_deadline(spins, d);
                        continue;
                    }
                    for (std::size_t i = 0; i < k; ++i) sum += a[i];
                    received += k;
                }
            } else {
                u64 v;
                while (received < n) {
                    if (!q->pop(v)) {
                        check_deadline(spins, d);
                        continue;
                    }
                    sum += v;
                    ++received;
                }
            }
            ctl->received.store(received);
            ctl->sum.store(sum);
        },
        [&](control* ctl, u64 n) {
            const deadline d(phase_deadline_s());
            u64 spins = 0;
            auto wait = [&] {
                if ((++spins & 0xfffff) == 0 && (d.passed() || ctl->failed.load())) throw phase_error("queue stuck");
            };
            if (batched) {
                std::array<u64, batch> a;
                for (u64 v = 1; v <= n; v += batch) {
                    for (std::size_t k = 0; k < batch; ++k) a[k] = v + k;
                    std::size_t done = 0;
                    while (done < batch) {
                        const std::size_t k = q->push(a.data() + done, batch - done);
                        if (k == 0) wait();
                        done += k;
                    }
                }
            } else {
                for (u64 v = 1; v <= n; ++v)
                    while (!q->push(v)) wait();
            }
        },
        [&] {
            if (q) {
                q->~spsc_t();
                ::munmap(q, sizeof(spsc_t));
            }
        });
}

void bench_message_queue() {
    namespace bip = boost::interprocess;
    const std::string name = unique("mq");
    std::optional<bip::message_queue> parent_q;
    throughput_row(
        "boost.interprocess.message_queue.u64", slow_records(),
        [&] {
            bip::message_queue::remove(name.c_str());
            parent_q.emplace(bip::create_only, name.c_str(), 1024, sizeof(u64));
        },
        [&](control* ctl, u64 n) {
            bip::message_queue q(bip::open_only, name.c_str());
            child_ready_wait_start(ctl);
            u64 received = 0, sum = 0, v = 0;
            bip::message_queue::size_type got = 0;
            unsigned prio = 0;
            while (received < n) {
                const auto until = boost::posix_time::microsec_clock::universal_time() + boost::posix_time::seconds(10);
                if (!q.timed_receive(&v, sizeof v, got, prio, until)) throw phase_error("message_queue: timed out");
                sum += v;
                ++received;
            }
            ctl->received.store(received);
            ctl->sum.store(sum);
        },
        [&](control*, u64 n) {
            for (u64 v = 1; v <= n; ++v) parent_q->send(&v, sizeof v, 0);
        },
        [&] {
            parent_q.reset();
            bip::message_queue::remove(name.c_str());
        });
}

#if defined(OMSTREAM_HAVE_ZMQ)
void bench_zeromq() {
    const std::string path = "/tmp/" + unique("zmq") + ".ipc";
    const std::string endpoint = "ipc://" + path;
    throughput_row(
        "zeromq.ipc.u64", slow_records(), [&] { ::unlink(path.c_str()); },
        [&](control* ctl, u64 n) {
            void* ctx = zmq_ctx_new();
            void* s = zmq_socket(ctx, ZMQ_PULL);
            const int timeout_ms = 10'000, linger = 0;
            zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
            if (zmq_bind(s, endpoint.c_str()) != 0) throw phase_error(std::string("zmq_bind: ") + zmq_strerror(zmq_errno()));
            child_ready_wait_start(ctl);
            u64 received = 0, sum = 0, v = 0;
            while (received < n) {
                const int k = zmq_recv(s, &v, sizeof v, 0);
                if (k != static_cast<int>(sizeof v))
                    throw phase_error("zmq_recv: " + std::string(k < 0 ? zmq_strerror(zmq_errno()) : "short message") +
                                      " after " + std::to_string(received) + " records");
                sum += v;
                ++received;
            }
            ctl->received.store(received);
            ctl->sum.store(sum);
            zmq_close(s);
            zmq_ctx_term(ctx);
        },
        [&](control* ctl, u64 n) {
            void* ctx = zmq_ctx_new();
            void* s = zmq_socket(ctx, ZMQ_PUSH);
            const int timeout_ms = 10'000, linger = 2'000;
            zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
            if (zmq_connect(s, endpoint.c_str()) != 0) throw phase_error("zmq_connect failed");
            for (u64 v = 1; v <= n; ++v)
                if (zmq_send(s, &v, sizeof v, 0) != static_cast<int>(sizeof v)) {
                    zmq_close(s);
                    zmq_ctx_term(ctx);
                    throw phase_error("zmq_send failed or timed out");
                }
            // Closing at once loses the messages still queued (seen with libzmq 4.3.4, linger or
            // not): keep the socket until the consumer has them all.
            const deadline d(phase_deadline_s());
            while (ctl->end_ns.load() == 0 && ctl->failed.load() == 0 && !d.passed())
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            zmq_close(s);
            zmq_ctx_term(ctx);
        },
        [&] { ::unlink(path.c_str()); });
}
#endif

void bench_pipe() {
    int fds[2] = {-1, -1};
    throughput_row(
        "pipe.u64", slow_records(),
        [&] {
            if (::pipe(fds) != 0) throw phase_error("pipe failed");
        },
        [&](control* ctl, u64 n) {
            ::close(fds[1]);
            child_ready_wait_start(ctl);
            u64 received = 0, sum = 0;
            alignas(8) unsigned char buf[4096 + 8];
            std::size_t have = 0;
            while (received < n) {
                const ssize_t k = ::read(fds[0], buf + have, 4096);
                if (k <= 0) throw phase_error("pipe read failed");
                have += static_cast<std::size_t>(k);
                std::size_t whole = have / 8;
                for (std::size_t i = 0; i < whole; ++i) {
                    u64 v;
                    std::memcpy(&v, buf + 8 * i, 8);
                    sum += v;
                }
                received += whole;
                std::memmove(buf, buf + 8 * whole, have - 8 * whole);
                have -= 8 * whole;
            }
            ctl->received.store(received);
            ctl->sum.store(sum);
        },
        [&](control*, u64 n) {
            ::close(fds[0]);
            fds[0] = -1;
            for (u64 v = 1; v <= n; ++v)
                if (::write(fds[1], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) throw phase_error("pipe write failed");
        },
        [&] {
            for (int fd : fds)
                if (fd >= 0) ::close(fd);
        });
}

// --- 4. wake-up latency and idle CPU ---------------------------------------------

// CPU time the process has used, in ns (schedstat when the kernel has it, else utime+stime ticks).
std::optional<double> cpu_ns_of(pid_t pid) {
    {
        std::ifstream f("/proc/" + std::to_string(pid) + "/schedstat");
        double on_cpu = 0;
        if (f >> on_cpu) return on_cpu;
    }
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto close = s.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stod(field);
        if (i == 15) stime = std::stod(field);
    }
    return (utime + stime) * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long voluntary_switches(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
    return -1;
}

// Floor for wake-ups: the same cadence with a bare futex on a shared word
// (no omstream): what waking a sleeping process costs on this host.
void bench_futex_floor() {
    row& r = add_row("floor.futex_wakeup");
    const int warm = 5, n = wakeup_samples(), total = warm + n;
    struct shared {
        alignas(64) std::atomic<std::uint32_t> word{0};
        alignas(64) std::atomic<std::int64_t> sent_ns{0};
        alignas(64) std::atomic<std::uint32_t> ack{0};
    };
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    auto* sh = new (shared_alloc(sizeof(shared))) shared;
    auto* lat = static_cast<std::int64_t*>(shared_alloc(sizeof(std::int64_t) * static_cast<std::size_t>(total)));
    try {
        run_pair(
            ctl,
            [&] {
                ctl->ready.store(1, std::memory_order_release);
                for (int i = 0; i < total; ++i) {
                    const auto want = static_cast<std::uint32_t>(i + 1);
                    for (std::uint32_t seen; (seen = sh->word.load(std::memory_order_acquire)) != want;)
                        omstream::detail::futex_wait(sh->word, seen, std::chrono::milliseconds(20));
                    lat[i] = system_ns() - sh->sent_ns.load(std::memory_order_relaxed);
                    sh->ack.store(want, std::memory_order_release);
                }
            },
            [&](pid_t) {
                parent_wait_ready(ctl);
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                for (int i = 0; i < total; ++i) {
                    sh->sent_ns.store(system_ns(), std::memory_order_relaxed);
                    sh->word.store(static_cast<std::uint32_t>(i + 1), std::memory_order_release);
                    omstream::detail::futex_wake_all(sh->word);
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    const deadline d(phase_deadline_s());
                    while (sh->ack.load(std::memory_order_acquire) != static_cast<std::uint32_t>(i + 1))  // no overtaking
                        if (d.passed() || ctl->failed.load()) throw phase_error("futex floor: no answer");
                        else std::this_thread::sleep_for(std::chrono::microseconds(50));
                }
            });
        std::vector<double> v;
        for (int i = warm; i < total; ++i) v.push_back(static_cast<double>(lat[i]));
        r.lat = percentiles(std::move(v));
        r.ratio = 1.0;
        r.note = std::to_string(n) + " FUTEX_WAKEs ~2 ms apart, bare futex (diagnostic)";
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what();
    }
    ::munmap(ctl, sizeof(control));
    ::munmap(sh, sizeof(shared));
    ::munmap(lat, sizeof(std::int64_t) * static_cast<std::size_t>(total));
}

void bench_wakeup() {
    row& r = add_row("omstream.shm_ring.wakeup");
    const std::string name = unique("wakeup");
    omstream::shm_ring<u64>::remove(name);
    const int warm = 5, n = wakeup_samples(), total = warm + n;
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    auto* lat = static_cast<std::int64_t*>(shared_alloc(sizeof(std::int64_t) * static_cast<std::size_t>(total)));
    try {
        run_pair(
            ctl,
            [&] {
                auto c = consumer_t<u64>::open(name, omstream::capacity = ring_capacity, omstream::size = 1);
                int got = 0;
                auto fn = [&](const omstream::window<u64>& w) {
                    const std::int64_t now = system_ns();
                    for (auto e : w.entries()) {
                        if (got < total) lat[got] = now - e.created_ns();
                        ++got;
                    }
                    if (got >= total) c.stop();
                };
                c.poll(fn);  // join
                ctl->ready.store(1, std::memory_order_release);
                c.apply(fn);
                ctl->received.store(static_cast<u64>(got));
            },
            [&](pid_t) {
                auto p = producer_t<u64>::open(name, omstream::capacity = ring_capacity);
                parent_wait_ready(ctl);
                std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it fall asleep
                for (int i = 0; i < total; ++i) {
                    p.append(static_cast<u64>(i));
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                }
            });
        std::vector<double> v;
        for (int i = warm; i < total; ++i) v.push_back(static_cast<double>(lat[i]));
        r.lat = percentiles(std::move(v));
        r.note = std::to_string(n) + " records ~2 ms apart";
        if (const row* f = find_row("floor.futex_wakeup"); f && f->lat.p50 > 0)
            append_note(r, "p50 " + num(r.lat.p50 / f->lat.p50, 2) + "x bare futex");
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what();
    }
    omstream::shm_ring<u64>::remove(name);
    ::munmap(ctl, sizeof(control));
    ::munmap(lat, sizeof(std::int64_t) * static_cast<std::size_t>(total));
}

void bench_idle_cpu() {
    row& r = add_row("omstream.shm_ring.idle_cpu");
    const std::string name = unique("idle");
    omstream::shm_ring<u64>::remove(name);
    auto* ctl = new (shared_alloc(sizeof(control))) control;
    try {
        double cpu_ns = NAN, wall_ns = NAN;
        long wakeups = -1;
        run_pair(
            ctl,
            [&] {
                auto c = consumer_t<u64>::open(name, omstream::capacity = ring_capacity, omstream::size = 1);
                auto fn = [&](const omstream::window<u64>&) { c.stop(); };
                c.poll(fn);
                ctl->ready.store(1, std::memory_order_release);
                c.apply(fn);
            },
            [&](pid_t child) {
                auto p = producer_t<u64>::open(name, omstream::capacity = ring_capacity);
                parent_wait_ready(ctl);
                std::this_thread::sleep_for(std::chrono::milliseconds(100));  // settle into apply()
                const auto c0 = cpu_ns_of(child);
                const long s0 = voluntary_switches(child);
                const auto t0 = steady_ns();
                std::this_thread::sleep_for(idle_period());
                const auto c1 = cpu_ns_of(child);
                const long s1 = voluntary_switches(child);
                const auto t1 = steady_ns();
                if (c0 && c1) cpu_ns = *c1 - *c0;
                wall_ns = static_cast<double>(t1 - t0);
                if (s0 >= 0 && s1 >= 0) wakeups = s1 - s0;
                p.append(u64{1});  // ends the consumer's apply()
            });
        // p50 column: consumer CPU ns per second of idle wall time.
        r.lat.p50 = cpu_ns / wall_ns * 1e9;
        r.ratio = cpu_ns / wall_ns;
        char buf[200];
        std::snprintf(buf, sizeof buf, "p50_ns = CPU ns per idle second (%.4f%% of a core), %ld sleeps/s over %.1f s",
                      100.0 * cpu_ns / wall_ns, wakeups < 0 ? -1L : static_cast<long>(wakeups * 1e9 / wall_ns),
                      wall_ns * 1e-9);
        r.note = buf;
    } catch (const std::exception& e) {
        r.note = std::string("FAILED: ") + e.what();
    }
    omstream::shm_ring<u64>::remove(name);
    ::munmap(ctl, sizeof(control));
}

// OMSTREAM_BENCH_FILTER=substring: run only the rows whose name contains it (profiling).
bool wanted(const char* name) {
    const char* f = std::getenv("OMSTREAM_BENCH_FILTER");
    return f == nullptr || *f == '\0' || std::string(name).find(f) != std::string::npos;
}

// --- report ---------------------------------------------------------------------

// The issues' targets, attached to the rows they judge. Latency: both p50 and
// p99.9 are compared with the p50 of the floor measured interleaved with the
// row (the floor's own p99.9 is mostly host noise). Throughput: the named peer.
void assign_targets() {
    auto rate = [](const char* n) {
        const row* r = find_row(n);
        return r ? r->records_per_s : NAN;
    };
    for (const char* n : {"omstream.shm_ring.u64", "omstream.shm_ring.64B"}) {
        if (row* r = find_row(n)) {
            r->checks.push_back({"p50 <= 2x floor p50", r->lat.p50 / r->floor.p50, 2.0, false});
            r->checks.push_back(
                {"p99.9 <= 10x floor p50", r->lat.p999 / r->floor.p50, 10.0, false});
        }
    }
    if (row* r = find_row("omstream.shm_ring.u64")) {
        const double om = r->records_per_s;
        for (auto [peer, bound] : {std::pair{"boost.lockfree.spsc_shm.u64", 0.3},
                                   std::pair{"boost.interprocess.message_queue.u64", 10.0},
                                   std::pair{"zeromq.ipc.u64", 15.0}})
            r->checks.push_back({">= " + num(bound, bound < 1 ? 1 : 0) + "x " + peer,
                                 om / rate(peer), bound, true});
    }
    if (row* r = find_row("omstream.shm_ring.u64.batch64")) {
        r->checks.push_back({">= 1x boost.lockfree.spsc_shm.u64.batch64",
                             r->records_per_s / rate("boost.lockfree.spsc_shm.u64.batch64"), 1.0,
                             true});
        // The slow peers send one message at a time (ZeroMQ batches them on
        // its own I/O thread): what a user who can batch gains over them.
        append_note(*r, num(r->records_per_s / rate("boost.interprocess.message_queue.u64"), 1) +
                            "x message_queue, " +
                            num(r->records_per_s / rate("zeromq.ipc.u64"), 1) + "x zeromq");
    }
    if (row* r = find_row("omstream.shm_ring.wakeup"))
        r->checks.push_back({"p50 <= 10 us", r->lat.p50 / 10'000.0, 1.0, false});
    // A row's ratio is the value of its first target.
    for (auto& r : g_rows)
        if (!r.checks.empty())
            r.ratio = r.checks.front().value;
}

std::string num(double v, int precision) {
    if (std::isnan(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
    return buf;
}

void print_table() {
    std::printf("\n%-38s %14s %10s %10s %10s %8s  %s\n", "name", "records_per_s", "p50_ns", "p99_ns", "p999_ns",
                "ratio", "note");
    for (const auto& r : g_rows)
        std::printf("%-38s %14s %10s %10s %10s %8s  %s\n", r.name.c_str(), num(r.records_per_s).c_str(),
                    num(r.lat.p50, 1).c_str(), num(r.lat.p99, 1).c_str(), num(r.lat.p999, 1).c_str(),
                    num(r.ratio, 2).c_str(), r.note.c_str());
    std::printf("\ntargets:\n");
    for (const auto& r : g_rows)
        for (const auto& c : r.checks)
            std::printf("  %-30s %-42s %8s  %s\n", r.name.c_str(), c.text.c_str(),
                        num(c.value, 2).c_str(), c.known() ? (c.met() ? "met" : "MISSED") : "n/a");
}

std::string json_number(double v) { return std::isnan(v) || std::isinf(v) ? "null" : num(v, 3); }

void write_json(const char* path) {
    std::ofstream f(path);
    if (!f) {
        std::fprintf(stderr, "bench_ipc: cannot write %s\n", path);
        return;
    }
    f << "{\n  \"cpu\": " << json_string(cpu_model()) << ",\n  \"date\": " << json_string(today())
      << ",\n  \"smoke\": " << (smoke() ? "true" : "false") << ",\n  \"rows\": [\n";
    for (std::size_t i = 0; i < g_rows.size(); ++i) {
        const row& r = g_rows[i];
        std::string target, list;
        for (const auto& c : r.checks) {
            target += (target.empty() ? "" : "; ") + c.text;
            list += std::string(list.empty() ? "" : ", ") + "{\"target\": " + json_string(c.text) +
                    ", \"ratio\": " + json_number(c.value) + ", \"met\": " + c.met_json() + "}";
        }
        f << "    {\"name\": " << json_string(r.name)
          << ", \"records_per_s\": " << json_number(r.records_per_s)
          << ", \"p50_ns\": " << json_number(r.lat.p50)
          << ", \"p99_ns\": " << json_number(r.lat.p99)
          << ", \"p999_ns\": " << json_number(r.lat.p999) << ", \"ratio\": " << json_number(r.ratio)
          << ", \"target\": " << (target.empty() ? "null" : json_string(target))
          << ", \"met\": " << met_json(r.checks) << ", \"note\": " << json_string(r.note)
          << ", \"targets\": [" << list << "]"
          << ", \"floor_p50_ns\": " << json_number(r.floor.p50)
          << ", \"floor_p999_ns\": " << json_number(r.floor.p999) << "}"
          << (i + 1 < g_rows.size() ? "," : "") << "\n";
    }
    f << "  ]\n}\n";
}

}  // namespace

int main() {
    std::signal(SIGALRM, on_parent_alarm);
    ::alarm(smoke() ? 120 : 1800);
    std::signal(SIGPIPE, SIG_IGN);
    g_tick.calibrate();
    std::printf("omstream IPC benchmark: %s, %s%s\n", cpu_model().c_str(), today().c_str(),
                smoke() ? " (smoke)" : "");
    std::printf("latency: %llu round trips after %llu warm-up; throughput: %llu records (syscall peers %llu)\n",
                static_cast<unsigned long long>(latency_samples()), static_cast<unsigned long long>(latency_warmup()),
                static_cast<unsigned long long>(fast_records()), static_cast<unsigned long long>(slow_records()));

    // The floor comes first: the latency rows are compared with it.
    if (wanted("floor.cacheline")) bench_floor();
    if (wanted("omstream.shm_ring.u64")) bench_shm_latency<u64>("omstream.shm_ring.u64");
    if (wanted("omstream.shm_ring.64B")) bench_shm_latency<rec64>("omstream.shm_ring.64B");
    if (wanted("omstream.shm_ring.u64")) bench_omstream_throughput(false);
    if (wanted("omstream.shm_ring.u64.batch64")) bench_omstream_throughput(true);
    if (wanted("boost.lockfree.spsc_shm.u64")) bench_spsc_throughput(false);
    if (wanted("boost.lockfree.spsc_shm.u64.batch64")) bench_spsc_throughput(true);
    if (wanted("boost.interprocess.message_queue.u64")) bench_message_queue();
#if defined(OMSTREAM_HAVE_ZMQ)
    if (wanted("zeromq.ipc.u64")) bench_zeromq();
#else
    if (wanted("zeromq.ipc.u64")) add_row("zeromq.ipc.u64").note = "skipped: built without OMSTREAM_HAVE_ZMQ";
#endif
    if (wanted("pipe.u64")) bench_pipe();
    if (wanted("floor.futex_wakeup") || wanted("omstream.shm_ring.wakeup")) bench_futex_floor();
    if (wanted("omstream.shm_ring.wakeup")) bench_wakeup();
    if (wanted("omstream.shm_ring.idle_cpu")) bench_idle_cpu();

    assign_targets();
    print_table();
    if (const char* path = std::getenv("OMSTREAM_BENCH_JSON"); path != nullptr && *path != '\0') write_json(path);
    bool failed = false;
    for (const auto& r : g_rows) failed = failed || r.note.rfind("FAILED", 0) == 0;
    return failed ? 1 : 0;
}
