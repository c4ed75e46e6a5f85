// expect: option 'max_wait' takes a std::chrono duration, e.g. 50ms
// A bare number would silently mean nanoseconds: `max_wait = 50ms` is meant.
#include <omstream/stream.hpp>

int main() {
    auto s = omstream::stream<omstream::memory<int>, omstream::count_window>::open(
        "x", omstream::max_wait = 50);
    (void)s;
}
