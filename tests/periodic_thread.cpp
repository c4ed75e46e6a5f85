// detail::periodic_thread: a task every interval on a thread of its own, and
// fork() never copies a lock that a task under way holds (a log's periodic
// sync takes the log's segment table lock, which a child uses at once).
#include <omstream/detail/periodic_thread.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "support/processes.hpp"

namespace {

namespace om = omstream;
using namespace std::chrono_literals;

// A task that holds `lock` for 200 ms, once: `step` is 1 while it holds it,
// 2 once it let it go.
struct slow_task {
    std::mutex lock;
    std::atomic<int> step{0};

    void operator()() {
        if (step.load() != 0)
            return;
        std::lock_guard held(lock);
        step.store(1);
        std::this_thread::sleep_for(200ms);
        step.store(2);
    }
    bool holding_within_10s() const {
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (step.load() == 0 && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
        return step.load() != 0;
    }
};

// A child's exit code: 0 when the task's lock is free there.
int fork_and_try_the_lock(slow_task& task) {
    return om::testing::in_child([&] {
        ::alarm(10);
        if (!task.lock.try_lock())
            return false;  // born holding a lock no thread of its will ever release
        task.lock.unlock();
        return true;
    });
}

TEST(periodic_thread, runs_its_task_every_interval_until_destroyed) {
    std::atomic<int> runs{0};
    {
        om::detail::periodic_thread t(1ms, [&] { ++runs; });
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (runs.load() < 5 && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
    }
    const int after = runs.load();
    EXPECT_GE(after, 5);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(runs.load(), after) << "the task ran after its thread was destroyed";
}

TEST(periodic_thread, fork_waits_for_a_task_under_way) {
    slow_task task;
    om::detail::periodic_thread t(1ms, [&] { task(); });
    ASSERT_TRUE(task.holding_within_10s());
    EXPECT_EQ(fork_and_try_the_lock(task), 0) << "the child was born with the task's lock held";
    EXPECT_EQ(task.step.load(), 2);
}

// The thread leaves the registry that fork() looks at only once it has ended.
TEST(periodic_thread, fork_waits_for_the_last_task_of_a_thread_being_destroyed) {
    slow_task task;
    auto t = std::make_unique<om::detail::periodic_thread>(1ms, [&] { task(); });
    ASSERT_TRUE(task.holding_within_10s());
    std::thread destroyer([&] { t.reset(); });  // waits for the task to end
    std::this_thread::sleep_for(20ms);          // in the destructor by now, in most runs
    EXPECT_EQ(fork_and_try_the_lock(task), 0) << "the child was born with the task's lock held";
    destroyer.join();
}

// In a child the thread is the parent's: destroying its object there must
// neither join a thread that does not exist nor stop the parent's.
TEST(periodic_thread, a_child_of_fork_destroys_its_copy_without_waiting) {
    std::atomic<int> runs{0};
    auto t = std::make_unique<om::detail::periodic_thread>(1ms, [&] { ++runs; });
    EXPECT_EQ(om::testing::in_child([&] {
                  ::alarm(10);
                  t.reset();
                  return true;
              }),
              0)
        << "128 + 14: the child hung destroying the parent's thread";
    const int before = runs.load();
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (runs.load() < before + 3 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    EXPECT_GE(runs.load(), before + 3) << "the parent's thread stopped";
}

}  // namespace
