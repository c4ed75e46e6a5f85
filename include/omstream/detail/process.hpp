// Telling whether a process that left its mark in shared memory is still
// alive. A pid alone can be reused, so a process is named by its pid and its
// start time (field 22 of /proc/<pid>/stat, in clock ticks since boot).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

// Whether the process still runs. A zombie counts as dead (it will never
// commit anything again), and so does a new process that reuses the pid.
inline bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
    if (pid == 0)
        return false;
    const process_stat stat = read_process_stat(pid);
    if (!stat.exists)
        return false;
    if (stat.state == 'Z' || stat.state == 'X')
        return false;
    return start_time == 0 || stat.start_time == start_time;
}

}  // namespace omstream::detail
