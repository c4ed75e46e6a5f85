// Which emitter a consumer group's state belongs to. A group keeps its
// emitter's state (S8) for every consumer of it, now and later: a consumer
// with another emitter type would read those bytes as its own (a time window
// taking a count window's zeros for a start in 1970, and replaying 56 years
// of empty windows), so storages keep the state's identity and refuse it.
#pragma once

#include <omstream/detail/type_name.hpp>
#include <omstream/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace omstream::detail {

struct emitter_identity {
    std::uint32_t id = 0;   // 0: unknown (not checked)
    std::string_view name;  // for messages
};

// Emitters whose states mean the same declare one `state_id` (the two time
// windows do); any other emitter is its own type.
template <class Emitter>
constexpr emitter_identity identity_of() noexcept {
    std::uint64_t h = 0;
    if constexpr (requires { Emitter::state_id; })
        h = Emitter::state_id;
    else
        h = fnv1a(type_name<Emitter>());
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
