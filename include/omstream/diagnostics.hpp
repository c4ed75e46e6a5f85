// What omstream says on its own, outside the result of any call: a log that
// recovery cut, for instance, is news for whoever runs the program even when
// the code that opened the log does not look at metadata(). It goes to
// standard error unless the program routes it to its own logging, or nowhere.
#pragma once

#include <atomic>
#include <cstdio>
#include <string_view>

namespace omstream {

// Receives one message, without a trailing newline. Called from whichever
// thread met the event, possibly several at once; an exception it throws is
// swallowed (a message must not make the operation that reported it fail).
using diagnostic_handler = void (*)(std::string_view message);

namespace detail {
inline void diagnostic_to_stderr(std::string_view message) {
    std::fprintf(stderr, "omstream: %.*s\n", static_cast<int>(message.size()), message.data());
}

inline std::atomic<diagnostic_handler>& current_diagnostic_handler() noexcept {
    static std::atomic<diagnostic_handler> handler{&diagnostic_to_stderr};
    return handler;
}

inline void diagnose(std::string_view message) noexcept {
    const diagnostic_handler handler = current_diagnostic_handler().load(std::memory_order_acquire);
    if (handler == nullptr)
        return;
    try {
        handler(message);
    } catch (...) {
    }
}
}  // namespace detail

// Routes omstream's messages to `handler` (nullptr: drop them) and returns
// the handler it replaces. The default writes "omstream: <message>" lines to
// standard error.
inline diagnostic_handler set_diagnostic_handler(diagnostic_handler handler) noexcept {
    return detail::current_diagnostic_handler().exchange(handler, std::memory_order_acq_rel);
}

}  // namespace omstream
