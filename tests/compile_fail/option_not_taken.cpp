// expect: option 'interval' is not taken by this stream's storage or emitter
// count_window takes `size` and `max_wait`, not `interval`.
#include <omstream/stream.hpp>

using namespace std::chrono_literals;

int main() {
    auto s = omstream::stream<omstream::memory<int>, omstream::count_window>::open(
        "x", omstream::interval = 2s);
    (void)s;
}
