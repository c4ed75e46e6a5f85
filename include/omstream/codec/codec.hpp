// The codec customization point (S2). A record type T is storable when
// omstream::codec<T> is a complete type with encoded_size, encode and decode;
// omstream ships codecs for trivially copyable types, strings and byte
// buffers, Hana-reflected structs and (optionally) nlohmann::json. Users add
// their own by specializing codec<T>; see docs/records.md.
#pragma once

#include <cstddef>

namespace omstream {

// Primary template: deliberately undefined, so that a type without a codec is
// diagnosed by omstream::check_record<T>() instead of deep inside storage.
//
// A specialization provides:
//   static constexpr std::size_t fixed_size;   // bytes of every record, or 0 if they vary
//   static std::size_t encoded_size(const T&);  // bytes encode() will write
//   static void encode(const T&, std::byte* out);
//   static R decode(std::span<const std::byte>); // R is T, or const T& for zero-copy
// and optionally `static constexpr std::string_view name` for the type name
// that fingerprints and error messages use.
template <class T>
struct codec;

}  // namespace omstream
