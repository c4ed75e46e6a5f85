// A record whose codec throws from encode() once told to: the space of the
// append is claimed by then, so the storage must give the claim up rather
// than leave readers waiting for a live producer's record that never comes.
#pragma once

#include <omstream/codec/codec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>

namespace omstream::testing {

struct throwing {
    std::uint64_t value;
    static inline bool fail = false;              // every encode() throws
    static inline std::uint64_t fail_on = ~0ull;  // encode() of this value throws
};

}  // namespace omstream::testing

template <>
struct omstream::codec<omstream::testing::throwing> {
    using throwing = omstream::testing::throwing;
    static constexpr std::size_t fixed_size = 8;
    static std::size_t encoded_size(const throwing&) { return 8; }
    static void encode(const throwing& t, std::byte* out) {
        if (throwing::fail || t.value == throwing::fail_on)
            throw std::runtime_error("the codec failed");
        std::memcpy(out, &t.value, 8);
    }
    static throwing decode(std::span<const std::byte> bytes) {
        throwing t{};
        std::memcpy(&t.value, bytes.data(), 8);
        return t;
    }
};
