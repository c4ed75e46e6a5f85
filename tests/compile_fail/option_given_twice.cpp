// expect: an option is given twice
#include <omstream/stream.hpp>

int main() {
    auto s =
        omstream::stream<omstream::memory<int>>::open("x", omstream::size = 2, omstream::size = 3);
    (void)s;
}
