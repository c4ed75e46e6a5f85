// A thread that runs a task every interval until its owner goes: for work
// that must happen on time even while the owner is idle (a log's periodic
// sync while its producer pauses between appends).
//
// fork() waits for tasks under way: a task takes locks that the handles
// share (a log's segment table), and a child must not be born with one held
// by a thread it does not have. A thread is in the registry that fork()
// looks at for as long as it exists, from before it starts to after it ends.
#pragma once

#include <omstream/detail/owner_process.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <pthread.h>

namespace omstream::detail {

class periodic_thread {
  public:
    // Throws std::system_error when the thread cannot be started (and then
    // leaves nothing behind).
    template <class Task>
    periodic_thread(std::chrono::nanoseconds interval, Task task) {
        auto s = std::make_unique<state>();
        registry::add(s.get());
        try {
            s->thread = std::thread([raw = s.get(), interval, task = std::move(task)]() mutable {
                std::unique_lock lock(raw->mutex);
                while (!raw->wake.wait_for(lock, interval, [&] { return raw->stop; })) {
                    lock.unlock();
                    {
                        std::lock_guard running(raw->running);
                        task();
                    }
                    lock.lock();
                }
            });
        } catch (...) {
            registry::remove(s.get());
            throw;
        }
        state_ = s.release();
    }
    periodic_thread(const periodic_thread&) = delete;
    periodic_thread& operator=(const periodic_thread&) = delete;

    // Stops the thread at once (a task under way finishes first). In a child
    // of fork() the thread is the parent's and does not exist here: its
    // state is left alone.
    ~periodic_thread() {
        if (!owner_.here())
            return;
        {
            std::lock_guard lock(state_->mutex);
            state_->stop = true;
        }
        state_->wake.notify_one();
        state_->thread.join();
        registry::remove(state_);
        delete state_;
    }

  private:
    struct state {
        std::mutex mutex;    // guards stop
        std::mutex running;  // held while the task runs (and across fork())
        std::condition_variable wake;
        bool stop = false;
        std::thread thread;
    };

    // Every thread of this process, so that fork() can wait for their tasks.
    // Never destroyed: a handle that is a static object may stop its thread
    // after the registry's own static destructors would have run.
    class registry {
      public:
        static void add(state* s) {
            install();
            std::lock_guard lock(mutex());
            threads().insert(s);
        }
        static void remove(state* s) noexcept {
            std::lock_guard lock(mutex());
            threads().erase(s);
        }

      private:
        static std::mutex& mutex() {
            static auto* m = new std::mutex;
            return *m;
        }
        static std::set<state*>& threads() {
            static auto* all = new std::set<state*>;
            return *all;
        }
        static void install() {
            static const int installed = ::pthread_atfork(&before_fork, &after_fork, &after_fork);
            (void)installed;
        }
        // In the child too: it copied the locks held by the forking thread,
        // which is its own thread there.
        static void before_fork() {
            mutex().lock();
            for (state* s : threads())
                s->running.lock();
        }
        static void after_fork() {
            for (state* s : threads())
                s->running.unlock();
            mutex().unlock();
        }
    };

    state* state_ = nullptr;
    owner_process owner_;
};

}  // namespace omstream::detail
