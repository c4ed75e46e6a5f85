// What a stream and its storage exchange when a consumer asks for a window:
// the pick function's answer, the claim that comes back, and the consumer's
// reusable scratch space. Shared by every storage.
#pragma once

#include <omstream/decision.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/error.hpp>
#include <omstream/window.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace omstream::detail {

// Scratch space of one consumer for building windows: reused, so that claims
// do not allocate once warm.
struct claim_buffers {
    std::vector<frame_span> pending;
    std::vector<frame_span> window;
};

// What a claim gives back: a window to deliver (then commit or abandon the
// ticket), or nothing ready.
template <class T>
struct log_claim {
    bool ready = false;
    omstream::window<T> window;
    std::uint64_t ticket = 0;
    // Not ready without asking the emitter (its last `wait` still holds):
    // that wait's deadline, for the consumer's sleep.
    std::int64_t deadline_ns = std::numeric_limits<std::int64_t>::max();
};

// The consumer's clock for one claim, read at most once and only when the
// claim needs it: an idle poll that only looks at a commit word (a wait with
// no deadline) never reads it, so a polling consumer sees a record sooner.
class lazy_now {
  public:
    using reader = std::int64_t (*)() noexcept;
    explicit lazy_now(reader read) noexcept : read_(read) {}
    std::int64_t operator()() const noexcept {
        if (!read_yet_) {
            ns_ = read_();
            read_yet_ = true;
        }
        return ns_;
    }
    // Whether `deadline_ns` has passed; never reads the clock for no deadline.
    bool passed(std::int64_t deadline_ns) const noexcept {
        return deadline_ns != std::numeric_limits<std::int64_t>::max() && (*this)() >= deadline_ns;
    }

  private:
    reader read_;
    mutable std::int64_t ns_ = 0;
    mutable bool read_yet_ = false;
};

// A `created` time read before the append, for the storages' append_one
// paths that take a stamp function and read it as late as they can.
struct stamp_at {
    std::int64_t ns;
    std::int64_t operator()() const noexcept { return ns; }
};

// What a consumer's pick function answers: the emitter's decision, reduced
// to what storage needs.
struct picked {
    action what = action::wait;
    std::size_t count = 0;
    // wait: the emitter's deadline (ns on the stream's clock); until then,
    // and while no record arrives, asking again gives the same answer.
    std::int64_t deadline_ns = std::numeric_limits<std::int64_t>::max();
    // wait: records to arrive before the answer can change (at least 1).
    std::uint64_t more = 1;
};

// Refuses an emitter answer that storage cannot carry out (S8): more records
// than are pending, or a drop(0) that would loop forever.
// `state_changed` is only asked for a drop(0): comparing states costs.
// The throws are out of line: this runs on every window.
[[noreturn, gnu::cold, gnu::noinline]] inline void refuse_count(std::size_t asked,
                                                                std::size_t pending) {
    throw error(errc::invalid_option, "the emitter asked for " + std::to_string(asked) +
                                          " records but only " + std::to_string(pending) +
                                          " are pending; fix the emitter's next()");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void refuse_endless_drop() {
    throw error(errc::invalid_option,
                "the emitter answered drop(0) without changing its state, which would loop "
                "forever; fix the emitter's next()");
}
// Refuses a wait that can never end: an emitter that waits, with no
// deadline, for more records than a bounded storage can hold unprocessed
// (`capacity`; 0: unbounded). Producers would wait for this group and this
// group for them, forever; a count_window larger than a ring does that.
[[noreturn, gnu::cold, gnu::noinline]] inline void refuse_unfillable(std::uint64_t needed,
                                                                     std::uint64_t capacity,
                                                                     const std::string& stream) {
    throw error(errc::invalid_option,
                "stream '" + stream + "': the emitter waits for " + std::to_string(needed) +
                    " records with no deadline, but the stream holds at most " +
                    std::to_string(capacity) +
                    " unprocessed records, so the window could never fill; open the stream "
                    "with a larger capacity, or use a smaller window or a max_wait");
}
inline void check_fillable(const picked& p, std::size_t pending, std::uint64_t capacity,
                           const std::string& stream) {
    if (capacity != 0 && p.deadline_ns == std::numeric_limits<std::int64_t>::max() &&
        pending + p.more > capacity) [[unlikely]]
        refuse_unfillable(pending + p.more, capacity, stream);
}

// Whether a decision over a view that shows only part of what is pending
// (a group far behind sees its backlog in parts) might differ with the rest:
// an emitter that waits for more, or takes the whole view, is asked again
// with more. One that takes fewer records saw where its window ends.
inline bool might_need_more(const picked& p, std::size_t shown) noexcept {
    return p.what == action::wait || p.count == shown;
}

template <class StateChanged>
void check_picked(const picked& p, std::size_t pending, StateChanged&& state_changed) {
    if (p.count > pending) [[unlikely]]
        refuse_count(p.count, pending);
    if (p.what == action::drop && p.count == 0 && !state_changed()) [[unlikely]]
        refuse_endless_drop();
}

}  // namespace omstream::detail
