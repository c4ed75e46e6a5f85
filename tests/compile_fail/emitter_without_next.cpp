// expect: an emitter needs `decision<clock_type> next\(const window<T>& pending
// An emitter missing a requirement is told which one.
#include <omstream/stream.hpp>

struct no_next {
    using emitter_concept = omstream::emitter_tag;
    using clock_type = std::chrono::system_clock;
    struct state_type {};
    state_type start(clock_type::time_point) const { return {}; }
};

int main() {
    auto s = omstream::stream<omstream::memory<int>, no_next>::open("x");
    (void)s;
}
