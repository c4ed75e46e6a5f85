// expect: trivially copyable and at most omstream::max_emitter_state \(64\) bytes
// Emitter state lives in the storage's group slot, so it must be small plain bytes.
#include <omstream/stream.hpp>

#include <string>

struct big_state {
    using emitter_concept = omstream::emitter_tag;
    using clock_type = std::chrono::system_clock;
    struct state_type {
        std::string label;  // not trivially copyable
    };
    state_type start(clock_type::time_point) const { return {}; }
    template <class T>
    omstream::decision<clock_type> next(const omstream::window<T>&, state_type&,
                                        clock_type::time_point) const {
        return omstream::decision<clock_type>::wait();
    }
};

int main() {
    auto s = omstream::stream<omstream::memory<int>, big_state>::open("x");
    (void)s;
}
