// Printing records and windows the way omega|ml's streams show them:
//   Window [2026-11-23 16:15:37.687509] [{foo: bar}, {foo: baz}]
// The time is the window's creation time in local wall-clock time with
// microseconds; Hana-reflected structs print field by field, byte buffers as
// their length, other records through their operator<<, or as their size when
// they have none.
#pragma once

#include <omstream/record.hpp>
#include <omstream/window.hpp>

#include <boost/hana/accessors.hpp>
#include <boost/hana/for_each.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace omstream {

namespace detail {
template <class T>
concept ostreamable = requires(std::ostream& os, const T& value) {
    os << value;
};
}  // namespace detail

template <class T>
void print_record(std::ostream& os, const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
        os << value;
    } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
        os << '<' << value.size() << " bytes>";  // its contents, not the vector object
    } else if constexpr (detail::reflected<T>) {
        os << '{';
        bool first = true;
        boost::hana::for_each(boost::hana::accessors<T>(), [&](auto pair) {
            if (!first)
                os << ", ";
            first = false;
            os << boost::hana::to<const char*>(boost::hana::first(pair)) << ": ";
            print_record(os, boost::hana::second(pair)(value));
        });
        os << '}';
    } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, signed char> ||
                         std::is_same_v<T, unsigned char>) {
        os << static_cast<int>(value);
    } else if constexpr (detail::ostreamable<T>) {
        os << value;
    } else {
        os << '<' << sizeof(T) << " bytes>";
    }
}

// "2026-11-23 16:15:37.687509" in local time, from nanoseconds since the epoch.
inline std::string format_time(std::int64_t ns) {
    const std::time_t seconds =
        static_cast<std::time_t>(ns >= 0 ? ns / 1'000'000'000 : (ns - 999'999'999) / 1'000'000'000);
    const auto micros = (ns - static_cast<std::int64_t>(seconds) * 1'000'000'000) / 1000;
    std::tm local{};
    localtime_r(&seconds, &local);
    std::ostringstream out;
    out << std::put_time(&local, "%Y-%m-%d %H:%M:%S") << '.' << std::setw(6) << std::setfill('0')
        << micros;
    return out.str();
}

template <class T>
std::ostream& operator<<(std::ostream& os, const window<T>& w) {
    os << "Window [" << format_time(w.created_ns()) << "] [";
    bool first = true;
    for (auto&& record : w) {
        if (!first)
            os << ", ";
        first = false;
        print_record(os, static_cast<const T&>(record));
    }
    return os << ']';
}

}  // namespace omstream
