// A record whose codec never returns from encode() once told to: a producer
// that claimed space and dies before committing it, as a SIGKILL at the
// worst moment would leave it.
#pragma once

#include <omstream/codec/codec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <unistd.h>

namespace omstream::testing {

struct stalling {
    std::uint64_t value;
    static inline bool stall = false;
};

}  // namespace omstream::testing

template <>
struct omstream::codec<omstream::testing::stalling> {
    using stalling = omstream::testing::stalling;
    static constexpr std::size_t fixed_size = 8;
    static std::size_t encoded_size(const stalling&) { return 8; }
    static void encode(const stalling& s, std::byte* out) {
        if (stalling::stall)
            ::pause();
        std::memcpy(out, &s.value, 8);
    }
    static stalling decode(std::span<const std::byte> bytes) {
        stalling s{};
        std::memcpy(&s.value, bytes.data(), 8);
        return s;
    }
};
