// What a record is (S2) and what is known about its type (S3): the `record`
// concept, built from small named parts so a failure names the missing part,
// and record_traits<T>, which gives the type's name and layout fingerprint
// that shared and persistent storages store and check on open.
#pragma once

#include <omstream/codec/codec.hpp>
#include <omstream/codec/reflected.hpp>
#include <omstream/codec/string.hpp>
#include <omstream/codec/trivial.hpp>
#include <omstream/detail/type_name.hpp>

#include <boost/hana/accessors.hpp>
#include <boost/hana/define_struct.hpp>  // users reflect records with it
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

namespace omstream {

// --- the record concept, part by part -------------------------------------
template <class T>
concept has_codec = requires {
    sizeof(codec<T>);
};

template <class T>
concept encodable = has_codec<T> && requires(const T& value, std::byte* out) {
    { codec<T>::fixed_size } -> std::convertible_to<std::size_t>;
    { codec<T>::encoded_size(value) } -> std::convertible_to<std::size_t>;
    codec<T>::encode(value, out);
};

template <class T>
concept decodable = has_codec<T> && requires(std::span<const std::byte> bytes) {
    { codec<T>::decode(bytes) } -> std::convertible_to<T>;
};

template <class T>
concept record = std::is_object_v<T> && !std::is_const_v<T> && encodable<T> && decodable<T>;

// One static_assert per missing part, so that a type that cannot be stored
// produces one readable error naming what is missing.
namespace detail {
template <class Member>
constexpr void check_member() {
    static_assert(has_codec<Member>,
                  "omstream: a member of this BOOST_HANA_DEFINE_STRUCT record cannot be stored "
                  "(the note 'with Member = ...' names its type): make it trivially copyable, a "
                  "std::string, a byte buffer or a reflected struct, or give it an "
                  "omstream::codec specialization");
}
}  // namespace detail

template <class T>
constexpr bool check_record() {
    if constexpr (detail::reflected<T> && !std::is_trivially_copyable_v<T> && !has_codec<T>) {
        boost::hana::for_each(detail::member_types<T>(), [](auto member) {
            detail::check_member<typename decltype(member)::type>();
        });
    } else {
        static_assert(
            has_codec<T>,
            "omstream: this type cannot be stored as a record: it is not trivially copyable, "
            "not a std::string or byte buffer, not a BOOST_HANA_DEFINE_STRUCT struct, and "
            "has no omstream::codec<T> specialization");
    }
    if constexpr (has_codec<T>) {
        static_assert(encodable<T>,
                      "omstream: codec<T> must provide fixed_size, encoded_size(const T&) and "
                      "encode(const T&, std::byte*)");
        static_assert(decodable<T>,
                      "omstream: codec<T> must provide decode(std::span<const std::byte>) "
                      "returning T or const T&");
    }
    return record<T>;
}

// --- names and fingerprints (S3) ------------------------------------------
namespace detail {
template <class T>
std::string record_name() {
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, char>) {
        return std::string(type_name<T>());
    } else if constexpr (std::is_integral_v<T>) {
        // One spelling per width, whatever the platform calls it.
        return std::string(std::is_signed_v<T> ? "std::int" : "std::uint") +
               std::to_string(8 * sizeof(T)) + "_t";
    } else if constexpr (requires { codec<T>::name; }) {
        return std::string(codec<T>::name);
    } else {
        return std::string(type_name<T>());
    }
}

template <class T>
std::string record_layout() {
    std::string layout = record_name<T>();
    layout += "/size=" + std::to_string(sizeof(T)) + "/align=" + std::to_string(alignof(T));
    if constexpr (reflected<T>) {
        layout += "{";
        bool first = true;
        boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
            using member =
                std::remove_cvref_t<decltype(boost::hana::second(pair)(std::declval<T&>()))>;
            if (!first)
                layout += ",";
            first = false;
            layout += boost::hana::to<const char*>(boost::hana::first(pair));
            layout += ":" + record_layout<member>();
        });
        layout += "}";
    }
    return layout;
}
}  // namespace detail

template <class T>
struct record_traits {
    // The type's name as users spell it (as far as the compiler tells).
    static std::string name() { return detail::record_name<T>(); }
    // Size, alignment and, for reflected structs, member names and layouts.
    static std::string layout() { return detail::record_layout<T>(); }
    // A stable 64-bit hash of layout(): what storages compare on open.
    static std::uint64_t fingerprint() { return detail::fnv1a(layout()); }
    // Every record has the same encoded size: windows are random-access.
    static constexpr bool fixed_size = codec<T>::fixed_size != 0;
};

}  // namespace omstream
