// expect: not an emitter: add `using emitter_concept = omstream::emitter_tag;`
// A type that looks like an emitter but has not opted in is refused.
#include <omstream/stream.hpp>

struct every_record {
    using clock_type = std::chrono::system_clock;
    struct state_type {};
    state_type start(clock_type::time_point) const { return {}; }
    template <class T>
    omstream::decision<clock_type> next(const omstream::window<T>& pending, state_type&,
                                        clock_type::time_point) const {
        return omstream::decision<clock_type>::emit(pending.size());
    }
};

int main() {
    auto s = omstream::stream<omstream::memory<int>, every_record>::open("x");
    (void)s;
}
