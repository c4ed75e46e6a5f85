// One piece of slow work done ahead of need, on a thread of its own. A log
// maps its next segment this way: creating a 64 MiB segment file and
// faulting its pages in takes 20-90 ms here (the kernel zeroes and maps
// every page), and the append or the read that crosses into the segment
// would otherwise stall that long.
//
// The worker runs where the process's main thread may run, and off the
// CPUs of the thread that started it when that leaves any: a producer
// pinned to a CPU of its own is not preempted by the page work done for
// it, and the worker keeps away from other threads pinned apart from the
// main one (isolated cores). A main thread that is itself the pinned
// producer shares its CPU with the worker.
//
// At most one job runs per work_ahead. Its result is keyed, so that a
// taker asking for something else does not get it. Nobody waits while
// holding the mutex (a join happens after it is released), and the worker
// never takes it. In a child of fork() a work_ahead of the parent's does
// nothing at all and never touches its mutex, which another thread of the
// parent may have held at the fork: it starts no job, hands out nothing,
// and abandons the parent's job (keeping it reachable so that leak
// checkers stay quiet); the child does the work itself when it needs it.
#pragma once

#include <omstream/detail/owner_process.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <sched.h>
#include <unistd.h>

namespace omstream::detail {

// The CPUs for a helper thread started by a thread that may run on
// `caller`: see above. Empty when the main thread's CPUs are unknown.
inline cpu_set_t helper_cpus(const cpu_set_t& caller) noexcept {
    cpu_set_t main_cpus, off_caller;
    CPU_ZERO(&main_cpus);
    CPU_ZERO(&off_caller);
    if (::sched_getaffinity(::getpid(), sizeof main_cpus, &main_cpus) != 0)
        return off_caller;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &main_cpus) && !CPU_ISSET(cpu, &caller))
            CPU_SET(cpu, &off_caller);
    return CPU_COUNT(&off_caller) > 0 ? off_caller : main_cpus;
}

template <class Result>
class work_ahead {
    struct job_state;

  public:
    work_ahead() = default;
    work_ahead(const work_ahead&) = delete;
    work_ahead& operator=(const work_ahead&) = delete;
    ~work_ahead() {
        if (!owner_.here()) {
            abandon(std::move(job_));  // a child of fork(): the job is the parent's
            return;
        }
        std::unique_ptr<job_state> job;  // waited for once the mutex is released
        std::lock_guard lock(mutex_);
        job = std::move(job_);
    }

    // Starts `make()` for `key` on a thread of its own, unless a job for
    // `key` was started already and not taken, or a job for another key is
    // still under way (the caller asks again later; it never waits here). A
    // finished job for another key that nobody took is dropped, by the new
    // worker (unmapping its result may be slow). What `make` throws is
    // swallowed: a failed job gives an empty result, and the taker does the
    // work itself and meets the failure there.
    template <class Make>
    void start(std::uint64_t key, Make make) {
        if (!owner_.here())
            return;
        std::lock_guard lock(mutex_);
        if (job_ && (job_->key == key || !job_->done.load(std::memory_order_acquire)))
            return;
        auto job = std::make_unique<job_state>();
        job->key = key;
        cpu_set_t caller;
        CPU_ZERO(&caller);
        const bool placed = ::sched_getaffinity(0, sizeof caller, &caller) == 0;
        try {
            job->worker = std::thread([state = job.get(), make = std::move(make), caller, placed,
                                       dropped = std::move(job_)]() mutable {
                dropped.reset();
                if (placed) {
                    const cpu_set_t cpus = helper_cpus(caller);
                    if (CPU_COUNT(&cpus) > 0)
                        ::sched_setaffinity(0, sizeof cpus, &cpus);
                }
                try {
                    state->result = make();
                } catch (...) {
                    state->result = Result{};
                }
                state->done.store(true, std::memory_order_release);
            });
        } catch (const std::system_error&) {
            return;  // no thread to be had (a resource limit): the taker does the work
        }
        job_ = std::move(job);
    }

    // Whether no job was started, or the last one was taken.
    bool idle() {
        if (!owner_.here())
            return false;  // nothing starts in a child
        std::lock_guard lock(mutex_);
        return !job_;
    }

    // Whether a job for `key` was started in this process and not taken.
    bool has(std::uint64_t key) {
        if (!owner_.here())
            return false;
        std::lock_guard lock(mutex_);
        return job_ && job_->key == key;
    }

    // The result of the job for `key`, once it is done (this waits for it,
    // without holding the mutex), or nullopt when no job for `key` was
    // started in this process.
    std::optional<Result> take(std::uint64_t key) {
        if (!owner_.here())
            return std::nullopt;
        std::unique_ptr<job_state> job;
        {
            std::lock_guard lock(mutex_);
            if (!job_ || job_->key != key)
                return std::nullopt;
            job = std::move(job_);
        }
        job->worker.join();  // the mutex is released: nobody waits behind us
        return std::optional<Result>(std::move(job->result));
    }

  private:
    struct job_state {
        std::uint64_t key = 0;
        std::thread worker;
        Result result{};
        std::atomic<bool> done{false};
        job_state* next_abandoned = nullptr;

        ~job_state() {  // never in a child of fork(): see abandon()
            if (worker.joinable())
                worker.join();
        }
    };

    // A job started before a fork() has no thread in the child: joining it
    // would wait forever, and destroying a joinable std::thread terminates.
    static void abandon(std::unique_ptr<job_state> job) noexcept {
        if (!job)
            return;
        job_state* j = job.release();
        j->next_abandoned = abandoned_.load(std::memory_order_relaxed);
        while (!abandoned_.compare_exchange_weak(j->next_abandoned, j, std::memory_order_relaxed)) {
        }
    }

    static inline std::atomic<job_state*> abandoned_{nullptr};
    owner_process owner_;
    std::mutex mutex_;
    std::unique_ptr<job_state> job_;
};

}  // namespace omstream::detail
