// A thread that runs a task every interval until its owner goes: for work
// that must happen on time even while the owner is idle (a log's periodic
// sync while its producer pauses between appends).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <unistd.h>

namespace omstream::detail {

class periodic_thread {
  public:
    template <class Task>
    periodic_thread(std::chrono::nanoseconds interval, Task task)
        : state_(new state), creator_(::getpid()) {
        state_->thread = std::thread([s = state_, interval, task = std::move(task)]() mutable {
            std::unique_lock lock(s->mutex);
            while (!s->wake.wait_for(lock, interval, [&] { return s->stop; })) {
                lock.unlock();
                task();
                lock.lock();
            }
        });
    }
    periodic_thread(const periodic_thread&) = delete;
    periodic_thread& operator=(const periodic_thread&) = delete;

    // Stops the thread at once (a task under way finishes first). In a child
    // of fork() the thread is the parent's and does not exist here: its
    // state, copied mid-flight maybe with the mutex held, is left alone.
    ~periodic_thread() {
        if (::getpid() != creator_)
            return;
        {
            std::lock_guard lock(state_->mutex);
            state_->stop = true;
        }
        state_->wake.notify_one();
        state_->thread.join();
        delete state_;
    }

  private:
    struct state {
        std::mutex mutex;
        std::condition_variable wake;
        bool stop = false;
        std::thread thread;
    };
    state* state_;
    pid_t creator_;
};

}  // namespace omstream::detail
