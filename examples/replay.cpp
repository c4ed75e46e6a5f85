// A persistent stream: one run appends and exits, a later run (after a crash
// or a reboot, too) reads every record it has not processed yet.
//   ./example_replay write orders 5     # appends 5 orders, exits
//   ./example_replay read orders        # prints them, as windows of 2
//   ./example_replay read orders        # prints nothing: the group committed
//   ./example_replay read orders audit  # another group replays from the start
// Logs live in $OMSTREAM_HOME, else ~/.local/share/omstream.
#include <omstream/stream.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace om = omstream;

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::string, symbol), (std::int64_t, qty));
};
using log_stream = om::stream<om::mapped_log<order>>;

void write(const std::string& name, int count) {
    auto s = log_stream::open(name, om::keep = true);  // keep: replayable by any group
    for (int i = 0; i < count; ++i)
        s.append(order{i % 2 ? "ACME" : "INIT", 10 * (i + 1)});
    std::cout << "appended " << count << " orders to '" << name << "' (" << s.metadata().appended
              << " in all)\n";
}

std::size_t read(const std::string& name, const std::string& group) {
    // Windows of 2; the last, partial one comes at once (its records are old).
    auto s = log_stream::open(name, om::group = group, om::size = 2,
                              om::max_wait = std::chrono::nanoseconds(1));
    std::size_t n = 0;
    while (s.poll([&](const om::window<order>& w) {
        std::cout << w << '\n';
        n += w.size();
    })) {
    }
    return n;
}

int main(int argc, char** argv) {
    try {
        const std::string mode = argc > 1 ? argv[1] : "--test";
        if (mode == "--test") {
            ::setenv("OMSTREAM_HOME", "/tmp/omstream-examples", 0);  // unless one is set
            const std::string name = "omstream-replay-test-" + std::to_string(::getpid());
            if (::fork() == 0) {  // a process that appends and exits
                write(name, 5);
                std::_Exit(0);
            }
            int status = 0;
            ::wait(&status);
            const bool ok = read(name, "default") == 5 && read(name, "default") == 0 &&
                            read(name, "audit") == 5;
            om::mapped_log<order>::remove(name);
            return ok ? 0 : 1;
        }
        const std::string name = argc > 2 ? argv[2] : "orders";
        if (mode == "write")
            write(name, argc > 3 ? std::stoi(argv[3]) : 5);
        else
            read(name, argc > 3 ? argv[3] : "default");
    } catch (const om::error& e) {
        std::cerr << "replay: " << e.what() << '\n';
        return 1;
    }
}
