// Which emitter a consumer group's state belongs to. A group keeps its
// emitter's state (S8) for every consumer of it, now and later: a consumer
// with another emitter type would read those bytes as its own (a time window
// taking a count window's zeros for a start in 1970, and replaying 56 years
// of empty windows), so storages keep the state's identity and refuse it.
#pragma once

#include <omstream/detail/type_name.hpp>
#include <omstream/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace omstream::detail {

struct emitter_identity {
    std::uint32_t id = 0;   // 0: unknown (not checked)
    std::string_view name;  // for messages
};

// A hash of a type's name as compilers spell it, without what only some of
// them print: spaces ("> >"), libstdc++'s and libc++'s inline namespaces.
constexpr std::uint64_t spelling_hash(std::string_view spelled) noexcept {
    std::uint64_t hash = fnv1a("");
    for (std::size_t i = 0; i < spelled.size(); ++i) {
        if (spelled.substr(i, 5) == "_V2::" || spelled.substr(i, 5) == "__1::") {
            i += 4;
            continue;
        }
        if (spelled[i] != ' ')
            hash = fnv1a(spelled.substr(i, 1), hash);
    }
    return hash;
}

// The clocks' own names: compilers also differ on default template
// arguments, so an emitter's identity names its clock, not its spelling.
template <class Clock>
constexpr std::uint64_t clock_id() noexcept {
    if constexpr (std::is_same_v<Clock, std::chrono::system_clock>)
        return fnv1a("std::chrono::system_clock");
    else if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>)
        return fnv1a("std::chrono::steady_clock");
    else
        return spelling_hash(type_name<Clock>());
}

// An emitter's `state_id`: the one it declares (the library's emitters do,
// so that programs built by different compilers agree; emitters whose states
// mean the same share one, as the two time windows), else its type's name.
template <class Emitter>
constexpr std::uint64_t state_id_of() noexcept {
    if constexpr (requires { Emitter::state_id; })
        return Emitter::state_id;
    else
        return spelling_hash(type_name<Emitter>());
}

template <class Emitter>
constexpr emitter_identity identity_of() noexcept {
    const std::uint64_t h = state_id_of<Emitter>();
    const auto id = static_cast<std::uint32_t>(h ^ (h >> 32));
    return {id == 0 ? 1u : id, type_name<Emitter>()};
}

// Whether a group whose state belongs to `kept` may be consumed by `asking`.
inline bool same_emitter(std::uint32_t kept, std::uint32_t asking) noexcept {
    return kept == 0 || asking == 0 || kept == asking;
}

[[noreturn, gnu::cold]] inline void refuse_other_emitter(std::string_view group,
                                                         std::string_view stream,
                                                         const emitter_identity& asking,
                                                         std::string_view kept_name = {}) {
    throw error(errc::type_mismatch,
                "group '" + std::string(group) + "' of stream '" + std::string(stream) +
                    "' keeps the state of " +
                    (kept_name.empty() ? std::string("another emitter type")
                                       : "emitter " + std::string(kept_name)) +
                    ", which emitter " + std::string(asking.name) +
                    " cannot read; consume it with the emitter it was made with, use another "
                    "om::group, or remove the group (remove_group) once its consumers are gone");
}

}  // namespace omstream::detail
