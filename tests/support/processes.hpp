// Real processes for the multi-process and crash tests: fork a child that
// runs a body, wait for it, or kill it with SIGKILL.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <thread>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace omstream::testing {

// Runs `body` in a child process; returns its pid. The child exits 0 when
// `body` returns true, 1 when it returns false or throws.
template <class Body>
pid_t spawn(Body body) {
    std::fflush(nullptr);  // nothing buffered is printed twice
    const pid_t pid = ::fork();
    if (pid == 0) {
        int code = 0;
        try {
            code = body() ? 0 : 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
            code = 1;
        }
        std::fflush(nullptr);
        ::_exit(code);
    }
    return pid;
}

// The child's exit code, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

template <class Body>
int in_child(Body body) {
    return wait_exit(spawn(body));
}

inline void kill_and_reap(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
}

// The child's exit code, or -1 once `limit` has passed (then it is killed).
inline int wait_exit_within(pid_t child, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(child, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill_and_reap(child);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace omstream::testing
