// Appends records to a shared-memory stream; pair it with consumer.cpp in
// another shell:
//   ./example_consumer ticks          # shell 1: prints windows of 5
//   ./example_producer ticks 20       # shell 2: appends 20 ticks
#include <omstream/stream.hpp>

#include <iostream>
#include <string>

namespace om = omstream;

struct tick {
    BOOST_HANA_DEFINE_STRUCT(tick, (double, price), (std::int64_t, qty));
};

int main(int argc, char** argv) {
    const bool test = argc > 1 && std::string(argv[1]) == "--test";
    const std::string name = test ? "omstream-producer-test" : (argc > 1 ? argv[1] : "ticks");
    const int count = test ? 10 : (argc > 2 ? std::stoi(argv[2]) : 10);
    try {
        auto s = om::stream<om::shm_ring<tick>>::open(name);
        const auto before = s.metadata().appended;
        for (int i = 0; i < count; ++i)
            s.append(tick{100.0 + i, i + 1});
        const auto after = s.metadata().appended;
        std::cout << "appended " << count << " ticks to '" << name << "' (" << after
                  << " in all)\n";
        if (test) {
            om::shm_ring<tick>::remove(name);
            return after - before == static_cast<std::uint64_t>(count) ? 0 : 1;
        }
    } catch (const om::error& e) {
        std::cerr << "producer: " << e.what() << '\n';
        return 1;
    }
}
