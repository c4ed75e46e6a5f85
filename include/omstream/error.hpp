// omstream::error and omstream::errc: every failure a user can cause or meet
// (S14) is reported as an omstream::error, a std::system_error whose code is
// in omstream's own category, so callers can branch on the code and read a
// message that says what to do.
#pragma once

#include <string>
#include <system_error>

namespace omstream {

enum class errc {
    invalid_name = 1,   // S1: a stream or group name breaks the naming rules
    type_mismatch,      // S3: opened with another record type
    version_mismatch,   // S3: stored by another format version
    record_too_large,   // a record exceeds the configured maximum size
    full,               // S13: bounded storage full and the wait timed out
    no_space,           // the disk or segment has no room left
    permission_denied,  // the OS refused access to the stream
    corrupt,            // stored bytes fail their checks
    invalid_option,     // an option value is out of range
    stopped,            // the operation was interrupted by stop()
    io_error,           // any other operating-system failure
    inherited_handle,   // a handle of a shared storage used in a child of fork()
    in_use,             // a consumer group still has live members
    invalid_record,     // a record that its codec cannot encode
    pid_namespace,      // a shared storage used from another PID namespace than its users'
};

namespace detail {
class error_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "omstream"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::invalid_name:
                return "invalid name";  // of a stream or of a group: what() says which
            case errc::type_mismatch:
                return "record type mismatch";
            case errc::version_mismatch:
                return "format version mismatch";
            case errc::record_too_large:
                return "record too large";
            case errc::full:
                return "storage full";
            case errc::no_space:
                return "no space left";
            case errc::permission_denied:
                return "permission denied";
            case errc::corrupt:
                return "corrupt data";
            case errc::invalid_option:
                return "invalid option";
            case errc::stopped:
                return "stopped";
            case errc::io_error:
                return "i/o error";
            case errc::inherited_handle:
                return "handle inherited through fork()";
            case errc::in_use:
                return "in use";
            case errc::invalid_record:
                return "invalid record";
            case errc::pid_namespace:
                return "used from another PID namespace";
        }
        return "unknown omstream error";
    }
};
}  // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

// The exception type of the library. what() reads "<what happened>: <category
// message>"; the first part always says what to do about it.
class error : public std::system_error {
  public:
    error(errc code, const std::string& what) : std::system_error(make_error_code(code), what) {}
    errc code_value() const noexcept { return static_cast<errc>(code().value()); }
};

}  // namespace omstream

template <>
struct std::is_error_code_enum<omstream::errc> : std::true_type {};
