// expect: this type cannot be stored as a record
// A record type with no codec (here a std::vector<int>) is refused.
#include <omstream/stream.hpp>

#include <vector>

int main() {
    auto s = omstream::stream<omstream::memory<std::vector<int>>>::open("x");
    (void)s;
}
