// CRC-32C (Castagnoli), the checksum of mapped_log frames: the SSE 4.2
// instruction where the CPU has it (about 8 bytes a cycle), a table otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace omstream::detail {

inline constexpr std::array<std::uint32_t, 256> crc32c_table = [] {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit)
            c = (c & 1) ? (c >> 1) ^ 0x82f6'3b78u : c >> 1;
        table[i] = c;
    }
    return table;
}();

// Extends `crc` (the CRC of the bytes before) over [data, data + size).
inline std::uint32_t crc32c_portable(std::uint32_t crc, const std::byte* data,
                                     std::size_t size) noexcept {
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i)
        crc = crc32c_table[(crc ^ static_cast<std::uint32_t>(data[i])) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                                    const std::byte* data,
                                                                    std::size_t size) noexcept {
    std::uint64_t c = ~crc;
    for (; size >= 8; size -= 8, data += 8) {
        std::uint64_t word;
        std::memcpy(&word, data, 8);
        c = __builtin_ia32_crc32di(c, word);
    }
    auto c32 = static_cast<std::uint32_t>(c);
    for (; size > 0; --size, ++data)
        c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*data));
    return ~c32;
}
#endif

inline std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size) noexcept {
    const auto* bytes = static_cast<const std::byte*>(data);
#if defined(__x86_64__)
    static const bool hardware = __builtin_cpu_supports("sse4.2");
    if (hardware)
        return crc32c_sse42(crc, bytes, size);
#endif
    return crc32c_portable(crc, bytes, size);
}

}  // namespace omstream::detail
