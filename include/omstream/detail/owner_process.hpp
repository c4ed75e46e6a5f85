// Which process a handle of a shared storage works for. Such a handle may
// own slots in the shared state (a producer's intent, a group member) named
// by its process. A child of fork() that used its parent's slots would act
// under the parent's name, and a crash of the child would then look like
// the live parent's work in progress, which nobody ever takes over.
//
// So in a child of fork() a handle adopts the child: it takes a producer
// slot of its own at its next append, and it joins its group as the child
// when the parent had not joined it yet. A handle whose group membership is
// the parent's refuses to consume there (errc::inherited_handle). Its
// destructor in the child leaves the parent's slots alone.
//
// Each child of fork() counts one generation more than its parent (an
// atfork handler): a handle tells where it is with one relaxed load per
// call, not a getpid() system call.
#pragma once

#include <omstream/error.hpp>

#include <atomic>
#include <cstdint>
#include <string>

#include <pthread.h>
#include <unistd.h>

namespace omstream::detail {

inline std::atomic<std::uint32_t> fork_generation{0};

class owner_process {
  public:
    owner_process() noexcept : generation_(current()) {}

    // Whether this process is the one the handle works for.
    bool here() const noexcept {
        return generation_ == fork_generation.load(std::memory_order_relaxed);
    }
    // From now on it works for this process.
    void adopt() noexcept { generation_ = current(); }

    [[noreturn, gnu::cold, gnu::noinline]] static void refuse_group(const char* storage,
                                                                    const std::string& name) {
        throw error(errc::inherited_handle,
                    std::string("this ") + storage + " handle of '" + name +
                        "' joined its group in a parent of process " + std::to_string(::getpid()) +
                        " before fork(): that membership is the parent's; open the stream "
                        "again in this process to consume");
    }

  private:
    static std::uint32_t current() noexcept {
        static const int registered = ::pthread_atfork(
            nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
        (void)registered;
        return fork_generation.load(std::memory_order_relaxed);
    }

    std::uint32_t generation_;
};

// What a handle's own state does when a child of fork() first uses it (see
// above). `Local` has `owner`, `producer` (a slot index, -1: none yet),
// `member` (group_member), `inherited_member`, and maybe `pin` (a lossy
// member's, which belongs to the membership).
template <class Local>
[[gnu::cold, gnu::noinline]] void adopt_handle(Local& l) noexcept {
    if (l.member.group != nullptr) {
        l.inherited_member = true;
        l.member = {};
        if constexpr (requires { l.pin = nullptr; })
            l.pin = nullptr;
    }
    l.producer = -1;  // the parent's slot stays the parent's
    // So do threads the handle started (they do not exist here) and their
    // news: the child starts its own when it needs them.
    if constexpr (requires { l.forget_parent_threads(); })
        l.forget_parent_threads();
    l.owner.adopt();
}

// Before a handle appends.
template <class Local>
void own_for_producing(Local& l) noexcept {
    if (!l.owner.here()) [[unlikely]]
        adopt_handle(l);
}

// Before a handle joins its group, claims or commits a window.
template <class Local>
void own_for_consuming(Local& l, const char* storage, const std::string& name) {
    if (l.owner.here() && !l.inherited_member) [[likely]]
        return;
    own_for_producing(l);
    if (l.inherited_member)
        owner_process::refuse_group(storage, name);
}

// Whether a handle may give back a window: not one its parent claimed.
template <class Local>
bool owns_its_windows(const Local& l) noexcept {
    return l.owner.here() && !l.inherited_member;
}

}  // namespace omstream::detail
