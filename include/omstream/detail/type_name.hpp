// The spelled name of a type, taken from the compiler's function signature
// so that it needs no registration. Used in fingerprints (S3) and messages.
#pragma once

#include <cstdint>
#include <string_view>

namespace omstream::detail {

template <class T>
constexpr std::string_view type_name() noexcept {
    std::string_view signature = __PRETTY_FUNCTION__;
    // GCC and Clang spell it "... [with T = <name>; ...]" or "... [T = <name>]".
    auto start = signature.find("T = ");
    if (start == std::string_view::npos)
        return "unknown";
    start += 4;
    auto end = signature.find_first_of(";]", start);
    return signature.substr(start, end - start);
}

// FNV-1a: a stable 64-bit hash for layout fingerprints (not for security).
constexpr std::uint64_t fnv1a(std::string_view text,
                              std::uint64_t hash = 14695981039346656037ull) noexcept {
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ull;
    }
    return hash;
}

}  // namespace omstream::detail
