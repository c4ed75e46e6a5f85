// Optional: nlohmann::json records (the dicts that omega|ml streams carry).
// Stored as compact JSON text; printed as JSON. Include this header and link
// nlohmann_json::nlohmann_json to use it.
#pragma once

#include <omstream/codec/codec.hpp>
#include <omstream/error.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace omstream {

template <>
struct codec<nlohmann::json> {
    static constexpr std::size_t fixed_size = 0;
    static constexpr std::string_view name = "nlohmann::json";

    // Asked before any space is claimed: a value that cannot be written as
    // JSON text is refused here, with nothing appended.
    static std::size_t encoded_size(const nlohmann::json& value) {
        try {
            return value.dump().size();
        } catch (const nlohmann::json::exception& e) {
            throw error(errc::invalid_record,
                        std::string("a JSON record cannot be stored (") + e.what() +
                            "); its strings must be valid UTF-8: fix the value, or store "
                            "dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) as "
                            "a std::string record");
        }
    }
    static void encode(const nlohmann::json& value, std::byte* out) {
        const std::string text = value.dump();
        std::memcpy(out, text.data(), text.size());
    }
    static nlohmann::json decode(std::span<const std::byte> bytes) {
        const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        auto value = nlohmann::json::parse(text, nullptr, false);
        if (value.is_discarded())
            throw error(errc::corrupt, "a stored JSON record does not parse");
        return value;
    }
};

}  // namespace omstream
