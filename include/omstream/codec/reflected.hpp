// The codec for structs reflected with BOOST_HANA_DEFINE_STRUCT whose members
// are not all trivially copyable (a struct holding a std::string, say). Each
// member is encoded with its own codec: fixed-size members as their bytes,
// variable-length ones behind a 4-byte length prefix.
#pragma once

#include <omstream/codec/codec.hpp>
#include <omstream/codec/string.hpp>
#include <omstream/codec/trivial.hpp>

#include <boost/hana/accessors.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/members.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/type.hpp>
#include <boost/hana/unpack.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

namespace omstream {

namespace detail {
template <class T>
concept reflected = boost::hana::Struct<T>::value;

template <class Member>
using member_codec = codec<std::remove_cvref_t<Member>>;

// The types of a reflected struct's members, as hana types.
template <class T>
constexpr auto member_types() {
    return boost::hana::transform(boost::hana::accessors<T>(), [](auto pair) {
        return boost::hana::type_c<
            std::remove_cvref_t<decltype(boost::hana::second(pair)(std::declval<T&>()))>>;
    });
}

template <class M>
concept codec_exists = requires {
    sizeof(codec<M>);
};

// Whether every member can be encoded: otherwise the struct has no codec
// either, and check_record() names the member type that is missing one.
template <class T>
constexpr bool every_member_has_codec() {
    return boost::hana::unpack(member_types<T>(), [](auto... member) {
        return (codec_exists<typename decltype(member)::type> && ...);
    });
}
}  // namespace detail

template <class T>
requires detail::reflected<T> &&
    (!std::is_trivially_copyable_v<T>)&&std::is_default_constructible_v<T> &&
    (detail::every_member_has_codec<T>()) struct codec<T> {
    static constexpr std::size_t fixed_size = 0;

    static std::size_t encoded_size(const T& value) {
        std::size_t total = 0;
        boost::hana::for_each(boost::hana::members(value), [&](const auto& member) {
            using C = detail::member_codec<decltype(member)>;
            total += C::encoded_size(member) + (C::fixed_size ? 0 : sizeof(std::uint32_t));
        });
        return total;
    }

    static void encode(const T& value, std::byte* out) {
        boost::hana::for_each(boost::hana::members(value), [&](const auto& member) {
            using C = detail::member_codec<decltype(member)>;
            const std::size_t encoded = C::encoded_size(member);
            if constexpr (C::fixed_size == 0) {
                const auto prefix = static_cast<std::uint32_t>(encoded);
                std::memcpy(out, &prefix, sizeof prefix);
                out += sizeof prefix;
            }
            C::encode(member, out);
            out += encoded;
        });
    }

    static T decode(std::span<const std::byte> bytes) {
        T value{};
        const std::byte* in = bytes.data();
        const std::byte* const end = in + bytes.size();
        boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
            auto& member = boost::hana::second(pair)(value);
            using C = detail::member_codec<decltype(member)>;
            std::size_t length = C::fixed_size;
            if constexpr (C::fixed_size == 0) {
                std::uint32_t prefix = 0;
                if (end - in >= static_cast<std::ptrdiff_t>(sizeof prefix))
                    std::memcpy(&prefix, in, sizeof prefix);
                in += sizeof prefix;
                length = prefix;
            }
            // Members are packed without alignment, so copy out before use.
            if (in + length > end)
                return;  // truncated: leave the member defaulted
            if constexpr (C::fixed_size != 0 &&
                          std::is_trivially_copyable_v<std::remove_cvref_t<decltype(member)>>) {
                std::memcpy(&member, in, length);
            } else {
                member = C::decode(std::span<const std::byte>(in, length));
            }
            in += length;
        });
        return value;
    }
};

}  // namespace omstream
