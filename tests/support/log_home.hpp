// Points $OMSTREAM_HOME (where mapped_log keeps logs by default) at a scratch
// directory for the test binary, unless the caller chose one, so that tests
// never write under the user's ~/.local/share.
#pragma once

#include <cstdlib>
#include <string>

namespace omstream::testing {

inline const std::string log_home = [] {
    if (const char* set = std::getenv("OMSTREAM_HOME"); set != nullptr && *set != '\0')
        return std::string(set);
    const std::string home = "/tmp/omstream-test-home";
    ::setenv("OMSTREAM_HOME", home.c_str(), 1);
    return home;
}();

}  // namespace omstream::testing
