// Codecs for variable-length records: std::string and byte buffers
// (std::vector<std::byte>). Stored as their bytes; decoding copies them out,
// so a decoded record outlives the window it came from.
#pragma once

#include <omstream/codec/codec.hpp>

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace omstream {

template <>
struct codec<std::string> {
    static constexpr std::size_t fixed_size = 0;
    static constexpr std::string_view name = "std::string";
    static std::size_t encoded_size(const std::string& s) noexcept { return s.size(); }
    static void encode(const std::string& s, std::byte* out) noexcept {
        if (!s.empty())
            std::memcpy(out, s.data(), s.size());
    }
    static std::string decode(std::span<const std::byte> bytes) {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
};

template <>
struct codec<std::vector<std::byte>> {
    static constexpr std::size_t fixed_size = 0;
    static constexpr std::string_view name = "std::vector<std::byte>";
    static std::size_t encoded_size(const std::vector<std::byte>& b) noexcept { return b.size(); }
    static void encode(const std::vector<std::byte>& b, std::byte* out) noexcept {
        if (!b.empty())
            std::memcpy(out, b.data(), b.size());
    }
    static std::vector<std::byte> decode(std::span<const std::byte> bytes) {
        return {bytes.begin(), bytes.end()};
    }
};

}  // namespace omstream
