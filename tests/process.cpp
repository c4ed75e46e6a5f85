// Telling live processes from dead ones (detail/process.hpp), and the PID
// namespace check that keeps that judgement sound: shared storages refuse a
// process whose process IDs mean other processes than their users'.
#include <omstream/detail/process.hpp>
#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "support/log_home.hpp"
#include "support/processes.hpp"

namespace {

namespace om = omstream;
using om::testing::in_child;
using om::testing::spawn;
using om::testing::wait_exit;

// Polls `done` for up to 10 s.
template <class Done>
bool eventually(Done done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

TEST(process_alive, a_process_whose_main_thread_exited_lives_while_another_thread_runs) {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "ThreadSanitizer's runtime does not survive a main thread that leaves by the "
                    "exit system call in a forked child (the child never ends); the other builds "
                    "run this test";
#endif
    int release[2];
    ASSERT_EQ(::pipe(release), 0);
    const pid_t child = spawn([&] {
        ::close(release[1]);
        // The thread lives until the test closes its end of the pipe.
        std::thread([fd = release[0]] {
            char c;
            while (::read(fd, &c, 1) > 0) {
            }
        }).detach();
        // The leader ends alone and is a zombie from here on: what
        // pthread_exit() does, without unwinding through GoogleTest's frames.
        ::syscall(SYS_exit, 0);
        return true;
    });
    ::close(release[0]);
    // However the test ends, the child does not outlive it.
    struct reaper {
        pid_t child;
        int fd;
        ~reaper() {
            if (fd >= 0)
                ::close(fd);
            if (child > 0)
                om::testing::kill_and_reap(child);
        }
    } guard{child, release[1]};
    const auto pid = static_cast<std::uint32_t>(child);
    ASSERT_TRUE(eventually([&] { return om::detail::read_process_stat(pid).state == 'Z'; }))
        << "the child's main thread never exited";
    const std::uint64_t started = om::detail::read_process_stat(pid).start_time;
    EXPECT_TRUE(om::detail::process_alive(pid, started))
        << "a process with a running thread was taken for dead: its records would be skipped "
           "and its claims taken over";
    EXPECT_EQ(om::detail::thread_count(pid), 2u);

    ::close(std::exchange(guard.fd, -1));  // the last thread ends: dead, not yet reaped
    EXPECT_TRUE(eventually([&] { return om::detail::thread_count(pid) == 1; }));
    EXPECT_FALSE(om::detail::process_alive(pid, started))
        << "a process that has ended but is not reaped yet must count as dead";
    EXPECT_EQ(
        om::testing::wait_exit_within(std::exchange(guard.child, 0), std::chrono::seconds(10)), 0)
        << "-1: the child never ended";
    EXPECT_FALSE(om::detail::process_alive(pid, started));
}

// With /proc mounted hidepid=2, processes of other users have no entry
// there: they are alive all the same (else their claims would be taken
// over). A child that mounts such a /proc in a mount namespace of its own
// and becomes nobody asks about its parent (root's).
TEST(process_alive, a_process_hidden_by_hidepid_is_alive) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "mounting a /proc with hidepid and changing user need root";
    constexpr int cannot_mount = 77;
    const auto parent = static_cast<std::uint32_t>(::getpid());
    const std::uint64_t started = om::detail::process_id::self().start_time;
    const int code = in_child([&] {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0 ||
            ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(cannot_mount);
        if (om::detail::read_process_stat(parent).exists)
            ::_exit(cannot_mount);  // hidepid did not hide it: nothing to check here
        return om::detail::process_alive(parent, started);
    });
    if (code == cannot_mount)
        GTEST_SKIP() << "cannot mount a /proc with hidepid=2 here";
    EXPECT_EQ(code, 0) << "a live process hidden from /proc was taken for dead";
}

TEST(process_alive, a_reused_pid_is_another_process) {
    const auto me = om::detail::process_id::self();
    EXPECT_TRUE(om::detail::process_alive(me.pid, me.start_time));
    EXPECT_FALSE(om::detail::process_alive(me.pid, me.start_time + 1));
    EXPECT_FALSE(om::detail::process_alive(0, 0));
}

// --- PID namespaces ----------------------------------------------------------------------

constexpr int cannot_unshare = 77;

// Runs `body` in a grandchild that lives in a PID namespace of its own (it
// is pid 1 there), as in a container that shares the host's /dev/shm and a
// log directory but not its PID namespace. With `own_proc` it mounts a
// /proc of its namespace, as containers do; without, it reads this one's.
// Returns its exit code, or cannot_unshare when this machine does not let
// us make the namespaces (not root).
template <class Body>
int in_new_pid_namespace(Body body, bool own_proc = true) {
    return in_child([&] {
        if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            ::_exit(cannot_unshare);
        ::_exit(wait_exit(spawn([&] {
            if (own_proc &&
                ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
                ::_exit(cannot_unshare);
            return body();
        })));
        return true;
    });
}

// What the grandchild reports: 0 refused as expected (errc::pid_namespace,
// a message holding `says`), 1 anything else (its messages say what), 2
// opened.
template <class Stream>
int open_from_another_namespace(const std::string& name, bool own_proc = true,
                                const std::string& says = "--pid=host") {
    return in_new_pid_namespace(
        [&] {
            try {
                auto s = Stream::open(name);
                ::_exit(2);
            } catch (const om::error& e) {
                const std::string what = e.what();
                if (e.code() != om::errc::pid_namespace ||
                    what.find("PID namespace") == std::string::npos ||
                    what.find(says) == std::string::npos) {
                    std::fprintf(stderr, "not the expected refusal: %s\n", what.c_str());
                    return false;
                }
            }
            return true;
        },
        own_proc);
}

// Nor may such a process remove a group: whether its members live is told
// by their process IDs. 0 when it is refused with errc::pid_namespace.
template <class Storage>
int remove_group_from_another_namespace(const std::string& name) {
    return in_new_pid_namespace([&] {
        try {
            (void)Storage::remove_group(name, "default");
        } catch (const om::error& e) {
            return e.code() == om::errc::pid_namespace;
        }
        return false;
    });
}

#define SKIP_WITHOUT_PID_NAMESPACES(code)                                                    \
    if ((code) == cannot_unshare)                                                            \
    GTEST_SKIP() << "cannot make a PID namespace here (needs root or user namespaces); the " \
                    "check of a foreign PID namespace is not covered on this machine"

TEST(pid_namespace, a_shared_memory_stream_refuses_a_process_of_another_pid_namespace) {
    using ring = om::stream<om::shm_ring<std::uint64_t>>;
    const std::string name = "pidns-" + std::to_string(::getpid());
    om::shm_ring<std::uint64_t>::remove(name);
    {
        auto mine = ring::open(name);
        mine.append(std::uint64_t{1});
        const int code = open_from_another_namespace<ring>(name);
        if (code == cannot_unshare)
            om::shm_ring<std::uint64_t>::remove(name);
        SKIP_WITHOUT_PID_NAMESPACES(code);
        EXPECT_EQ(code, 0) << "2: the foreign process opened the stream; 1: see its message";
        EXPECT_EQ(remove_group_from_another_namespace<om::shm_ring<std::uint64_t>>(name), 0)
            << "a process of another namespace removed a group of a ring in use";
    }
    // The segment outlives its users and still names their namespace.
    EXPECT_EQ(open_from_another_namespace<ring>(name), 0);
    om::shm_ring<std::uint64_t>::remove(name);
    // Made anew from the other namespace, it is that namespace's.
    EXPECT_EQ(in_new_pid_namespace([&] {
                  ring::open(name).append(std::uint64_t{2});
                  return true;
              }),
              0);
    try {
        (void)ring::open(name);
        ADD_FAILURE() << "a ring of another PID namespace was opened";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::pid_namespace) << e.what();
    }
    om::shm_ring<std::uint64_t>::remove(name);
}

TEST(pid_namespace, a_log_refuses_a_process_of_another_pid_namespace_while_it_is_used) {
    using log = om::stream<om::mapped_log<std::uint64_t>>;
    (void)om::testing::log_home;
    const std::string name = "pidns-" + std::to_string(::getpid());
    om::mapped_log<std::uint64_t>::remove(name);
    {
        auto mine = log::open(name);
        mine.append(std::uint64_t{1});
        const int code = open_from_another_namespace<log>(name);
        SKIP_WITHOUT_PID_NAMESPACES(code);
        EXPECT_EQ(code, 0) << "2: the foreign process opened the log; 1: see its message";
        EXPECT_EQ(remove_group_from_another_namespace<om::mapped_log<std::uint64_t>>(name), 0)
            << "a process of another namespace removed a group of a log in use";
    }
    // Nobody uses it now: a process of any namespace may take it over, and
    // reads what was appended before.
    EXPECT_EQ(in_new_pid_namespace([&] {
                  using reader = om::stream<om::mapped_log<std::uint64_t>, om::count_window>;
                  auto r = reader::open(name, om::size = 1, om::group = "g");
                  std::uint64_t got = 0;
                  r.poll([&](const om::window<std::uint64_t>& w) { got = w[0]; });
                  r.append(std::uint64_t{2});
                  return got == 1;
              }),
              0);
    {
        auto again = log::open(name);  // and back to this namespace, once that one closed it
        EXPECT_EQ(again.metadata().appended, 2u);
    }
    om::mapped_log<std::uint64_t>::remove(name);
}

// A process whose /proc is another namespace's (`unshare --pid --fork`
// without --mount-proc) would read every process ID as another process: it
// may use neither storage, even where it is the only user.
TEST(pid_namespace, a_process_whose_proc_is_another_namespaces_may_not_share_a_stream) {
    using ring = om::stream<om::shm_ring<std::uint64_t>>;
    using log = om::stream<om::mapped_log<std::uint64_t>>;
    (void)om::testing::log_home;
    const std::string name = "pidns-proc-" + std::to_string(::getpid());
    om::shm_ring<std::uint64_t>::remove(name);
    om::mapped_log<std::uint64_t>::remove(name);
    const int code = open_from_another_namespace<ring>(name, false, "/proc");
    SKIP_WITHOUT_PID_NAMESPACES(code);
    EXPECT_EQ(code, 0) << "2: it opened the ring; 1: see its message";
    EXPECT_EQ(open_from_another_namespace<log>(name, false, "/proc"), 0);
    EXPECT_FALSE(om::shm_ring<std::uint64_t>::remove(name)) << "a refused open left a segment";
    EXPECT_FALSE(om::mapped_log<std::uint64_t>::remove(name)) << "a refused open left a log";
}

}  // namespace
