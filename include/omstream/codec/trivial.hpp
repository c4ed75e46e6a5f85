// The codec for trivially copyable records: stored as their bytes, read back
// zero-copy (a reference into storage) when their alignment fits the frame's
// 8-byte payload alignment, and by copy otherwise.
#pragma once

#include <omstream/codec/codec.hpp>

#include <cstring>
#include <new>
#include <span>
#include <type_traits>

namespace omstream {

template <class T>
requires std::is_trivially_copyable_v<T> &&
    (!std::is_pointer_v<T>)&&(!std::is_member_pointer_v<T>)struct codec<T> {
    static constexpr std::size_t fixed_size = sizeof(T);
    static constexpr bool zero_copy = alignof(T) <= 8;

    static std::size_t encoded_size(const T&) noexcept { return sizeof(T); }
    static void encode(const T& value, std::byte* out) noexcept {
        std::memcpy(out, &value, sizeof(T));
    }

    static decltype(auto) decode(std::span<const std::byte> bytes) noexcept {
        if constexpr (zero_copy) {
            return *std::launder(reinterpret_cast<const T*>(bytes.data()));
        } else {
            T value;
            std::memcpy(&value, bytes.data(), sizeof(T));
            return value;
        }
    }
};

}  // namespace omstream
