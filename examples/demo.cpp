// The seed scenario of omega|ml streams, in one program: a consumer thread
// applies a function to every window of a count_window stream while a
// producer appends {foo: bar} three times. Prints, like omega|ml:
//   Window [2026-11-23 16:15:37.687509] [{foo: bar}]
// Run with --test to check the output instead of only printing it.
#include <omstream/stream.hpp>

#include <atomic>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

namespace om = omstream;

struct message {
    BOOST_HANA_DEFINE_STRUCT(message, (std::string, foo));
};

int main(int argc, char** argv) {
    const bool test = argc > 1 && std::string(argv[1]) == "--test";

    // Both sides open the stream by name; the first open creates it.
    auto consumer = om::stream<om::memory<message>, om::count_window>::open("mystream", om::size = 1);
    auto producer = om::stream<om::memory<message>>::open("mystream");

    std::ostringstream printed;
    std::atomic<int> windows{0};
    std::thread worker([&] {
        consumer.apply([&](const om::window<message>& window) {
            std::ostringstream line;
            line << window << '\n';
            std::cout << line.str() << std::flush;
            printed << line.str();
            if (++windows == 3) consumer.stop();
        });
    });

    for (int i = 0; i < 3; ++i) producer.append(message{"bar"});
    worker.join();

    if (test) {
        // Three lines of the form: Window [YYYY-MM-DD HH:MM:SS.ffffff] [{foo: bar}]
        std::istringstream lines(printed.str());
        std::string line;
        int good = 0;
        while (std::getline(lines, line)) {
            const bool shape = line.size() == 48 && line.rfind("Window [", 0) == 0 && line[18] == ' ' &&
                               line[27] == '.' && line.substr(34) == "] [{foo: bar}]";
            if (!shape) {
                std::cerr << "unexpected line: " << line << '\n';
                return 1;
            }
            ++good;
        }
        if (good != 3) {
            std::cerr << "expected 3 windows, got " << good << '\n';
            return 1;
        }
        std::cout << "demo: 3 windows as expected\n";
    }
}
