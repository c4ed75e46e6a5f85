// Telling whether a process that left its mark in shared memory is still
// alive. A pid alone can be reused, so a process is named by its pid and its
// start time (field 22 of /proc/<pid>/stat, in clock ticks since boot).
// Process IDs mean the same process only within one PID namespace, so the
// storages also record the namespace of their users and refuse another.
#pragma once

#include <omstream/error.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace omstream::detail {

struct process_stat {
    bool exists = false;
    char state = '?';  // R, S, D, Z (zombie), X (dead), ...
    std::uint64_t start_time = 0;
};

inline process_stat read_process_stat(std::uint32_t pid) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
    std::FILE* file = std::fopen(path, "r");
    if (file == nullptr)
        return {};
    char buffer[1024];
    const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, file);
    std::fclose(file);
    buffer[n] = '\0';
    // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
    const char* p = std::strrchr(buffer, ')');
    if (p == nullptr || p[1] != ' ')
        return {};
    process_stat stat;
    stat.exists = true;
    stat.state = p[2];
    p += 2;  // field 3
    for (int field = 3; field < 22 && *p != '\0'; ++p)
        if (*p == ' ')
            ++field;
    stat.start_time = std::strtoull(p, nullptr, 10);
    return stat;
}

struct process_id {
    std::uint32_t pid = 0;
    std::uint64_t start_time = 0;

    static process_id self() noexcept {
        const auto pid = static_cast<std::uint32_t>(::getpid());
        thread_local process_id cached{};
        if (cached.pid != pid)
            cached = {pid, read_process_stat(pid).start_time};  // again after fork()
        return cached;
    }
};

// How long a reader waits on a record claimed but not published before it
// asks whether the writer is alive: a writer's SIGKILL stalls readers about
// this long.
inline constexpr std::chrono::milliseconds stuck_check_after{2};

// How long a reader has been finding one record (a slot, a log position)
// unpublished. Counts looks and reads the clock every 16th only, so that a
// reader that keeps up pays nothing per record; only once the record has
// stayed so for stuck_check_after (and 32 looks) does the reader look at the
// writers' lines, which polling would otherwise pull away from them.
class stuck_watch {
  public:
    static constexpr std::uint64_t none = ~std::uint64_t{0};

    std::uint64_t at() const noexcept { return at_; }  // the record waited on, or none
    void clear() noexcept { at_ = none; }

    // Another look that found `where` unpublished: whether it is time to
    // ask if its writer is alive (then again stuck_check_after later).
    bool long_enough(std::uint64_t where) noexcept {
        if (at_ != where) {
            at_ = where;
            looks_ = 0;
            since_ = {};
            return false;
        }
        if (++looks_ % 16 != 0)
            return false;
        const auto now = std::chrono::steady_clock::now();
        if (since_ == std::chrono::steady_clock::time_point{}) {
            since_ = now;
            return false;
        }
        if (now - since_ < stuck_check_after)
            return false;
        since_ = now;
        return true;
    }

  private:
    std::uint64_t at_ = none;
    std::uint64_t looks_ = 0;
    std::chrono::steady_clock::time_point since_{};
};

// How many threads the process has, from /proc/<pid>/status (0 if unknown).
inline unsigned thread_count(std::uint32_t pid) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%u/status", pid);
    std::FILE* file = std::fopen(path, "r");
    if (file == nullptr)
        return 0;
    char line[256];
    unsigned threads = 0;
    while (std::fgets(line, sizeof line, file) != nullptr)
        if (std::sscanf(line, "Threads: %u", &threads) == 1)
            break;
    std::fclose(file);
    return threads;
}

// Whether the process still runs. A zombie counts as dead (it will never
// commit anything again), and so does a new process that reuses the pid. A
// process whose main thread called pthread_exit() shows as a zombie too
// while its other threads run on: it counts one thread more than the dead
// leader, and it is alive.
inline bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
    if (pid == 0)
        return false;
    const process_stat stat = read_process_stat(pid);
    if (!stat.exists)  // gone, or hidden from us (/proc mounted with hidepid)
        return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (stat.state == 'X' || (stat.state == 'Z' && thread_count(pid) <= 1))
        return false;
    return start_time == 0 || stat.start_time == start_time;
}

// The PID namespace this process lives in: the inode number of
// /proc/self/ns/pid (the kernel's are 32-bit). Throws errc::pid_namespace,
// naming `where`, when /proc cannot tell which processes are alive: not
// mounted, or mounted for another PID namespace (its /proc/self is not
// getpid(), as after `unshare --pid --fork` without --mount-proc), where
// every process ID read would name another process or none.
inline std::uint32_t pid_namespace(const std::string& where) {
    auto refuse = [&](const std::string& why) {
        throw error(errc::pid_namespace,
                    where + " cannot be used from this process: " + why +
                        "; omstream reads /proc to tell a crashed writer from a live one. Mount "
                        "a /proc of the process's own PID namespace (unshare --mount-proc, or "
                        "mount -t proc proc /proc in the container)");
    };
    char self[32] = {};
    if (::readlink("/proc/self", self, sizeof self - 1) <= 0)
        refuse(
            "/proc does not show this process (it is not mounted, or it belongs to another "
            "PID namespace)");
    if (std::strtol(self, nullptr, 10) != ::getpid())
        refuse("its /proc belongs to another PID namespace (/proc/self is process " +
               std::string(self) + ", this process is " + std::to_string(::getpid()) + ")");
    struct stat st {};
    if (::stat("/proc/self/ns/pid", &st) != 0)
        return 0;  // a kernel without PID namespaces: there is only one
    return static_cast<std::uint32_t>(st.st_ino);
}

// Refuses a shared storage whose users live in PID namespace `theirs` when
// this process lives in another: their process IDs would name other
// processes here (or none), so a live writer would pass for a dead one and
// have its records skipped. 0 means not recorded yet and passes. `way_out`
// says what else the user can do, after the general advice.
inline void check_pid_namespace(std::uint32_t theirs, const std::string& where,
                                std::string_view way_out) {
    const std::uint32_t ours = pid_namespace(where);
    if (theirs == 0 || theirs == ours)
        return;
    throw error(errc::pid_namespace,
                where + " is used by processes of PID namespace " + std::to_string(theirs) +
                    " and this process lives in PID namespace " + std::to_string(ours) +
                    ": omstream tells a crashed writer from a live one by its process ID, "
                    "which only names the same process within one PID namespace; run every "
                    "process of the stream in one PID namespace (containers: docker run "
                    "--pid=host or --pid=container:<name>, Kubernetes shareProcessNamespace), " +
                    std::string(way_out));
}

}  // namespace omstream::detail
