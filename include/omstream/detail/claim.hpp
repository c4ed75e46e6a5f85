// What a stream and its storage exchange when a consumer asks for a window:
// the pick function's answer, the claim that comes back, and the consumer's
// reusable scratch space. Shared by every storage.
#pragma once

#include <omstream/decision.hpp>
#include <omstream/detail/frame.hpp>
#include <omstream/window.hpp>

#include <cstddef>
#include <cstdint>
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
};

// What a consumer's pick function answers: the emitter's decision, reduced
// to what storage needs.
struct picked {
    action what = action::wait;
    std::size_t count = 0;
};

}  // namespace omstream::detail
