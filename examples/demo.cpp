// The seed scenario of omega|ml streams, across processes: a consumer
// process applies a function to every window of a count_window stream in
// shared memory, while three producer runs (three more processes) each
// append {foo: bar}. Prints, like omega|ml:
//   Window [2026-11-23 16:15:37.687509] [{foo: bar}]
// Run with --test to check the output as well.
#include <omstream/stream.hpp>

#include <cstdio>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace om = omstream;

struct message {
    BOOST_HANA_DEFINE_STRUCT(message, (std::string, foo));
};

using ring = om::shm_ring<message>;

int main(int argc, char** argv) {
    const bool test = argc > 1 && std::string(argv[1]) == "--test";
    const std::string name = "omstream-demo-" + std::to_string(::getpid());
    ring::remove(name);

    int lines[2];
    if (::pipe(lines) != 0)
        return 1;
    // The consumer: its own process, created at first access of the stream.
    auto consumer_stream = om::stream<ring, om::count_window>::open(name, om::size = 1);
    const pid_t consumer = ::fork();
    if (consumer == 0) {
        ::close(lines[0]);
        int windows = 0;
        consumer_stream.apply([&](const om::window<message>& window) {
            std::ostringstream line;
            line << window << '\n';
            std::cout << line.str() << std::flush;
            (void)::write(lines[1], line.str().data(), line.str().size());
            if (++windows == 3)
                consumer_stream.stop();
        });
        ::_exit(0);
    }
    ::close(lines[1]);

    // Three producer runs, each a process that opens the stream and appends once.
    for (int run = 0; run < 3; ++run) {
        const pid_t producer = ::fork();
        if (producer == 0) {
            om::stream<ring>::open(name).append(message{"bar"});
            ::_exit(0);
        }
        ::waitpid(producer, nullptr, 0);
    }
    ::waitpid(consumer, nullptr, 0);
    ring::remove(name);

    std::string printed;
    char buffer[512];
    for (ssize_t n; (n = ::read(lines[0], buffer, sizeof buffer)) > 0;)
        printed.append(buffer, static_cast<std::size_t>(n));
    if (!test)
        return 0;
    const std::regex shape(R"(Window \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\] \[\{foo: bar\}\])");
    std::istringstream in(printed);
    int good = 0;
    for (std::string line; std::getline(in, line); ++good) {
        if (!std::regex_match(line, shape)) {
            std::cerr << "unexpected line: " << line << '\n';
            return 1;
        }
    }
    if (good != 3) {
        std::cerr << "expected 3 windows, got " << good << '\n';
        return 1;
    }
    std::cout << "demo: 3 windows from 3 producer processes, as expected\n";
}
