// Package consumer smoke test: append one record, poll it back.
#include <omstream/stream.hpp>

int main() {
    auto s = omstream::stream<omstream::memory<int>>::open("pkg-test");
    s.append(42);
    int got = 0;
    bool ok = s.poll([&](omstream::window<int> const& w) {
        for (int v : w)
            got = v;
    });
    return (ok && got == 42) ? 0 : 1;
}
