// S1: stream names are 1-200 characters of [A-Za-z0-9._-], not starting with
// '.', checked before any file or segment is touched, so a name can never
// escape its directory or collide with hidden files. Group names follow the
// same rules.
#pragma once

#include <omstream/error.hpp>

#include <string>
#include <string_view>

namespace omstream::detail {

inline constexpr std::size_t max_name_length = 200;

// `kind` says whose name it is ("stream", "group") in the message;
// `max_length`, how long it may be (shared storages keep group names in
// fixed slots, so theirs are shorter).
inline void check_stream_name(std::string_view name, std::string_view kind = "stream",
                              std::size_t max_length = max_name_length) {
    auto refuse = [&](const std::string& why) {
        throw error(errc::invalid_name, std::string(kind) + " name '" +
                                            std::string(name.substr(0, 240)) + "' " + why +
                                            "; use 1-" + std::to_string(max_length) +
                                            " characters of A-Z a-z 0-9 . _ - not starting "
                                            "with '.'");
    };
    if (name.empty())
        refuse("is empty");
    if (name.size() > max_length)
        refuse("is longer than " + std::to_string(max_length) + " characters");
    if (name.front() == '.')
        refuse("starts with '.'");
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            refuse("contains a character outside [A-Za-z0-9._-]");
    }
}

}  // namespace omstream::detail
