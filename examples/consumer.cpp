// Prints windows of 5 ticks from a shared-memory stream until Ctrl-C; pair
// it with producer.cpp in another shell. A restarted consumer carries on
// where its group stopped.
#include <omstream/stream.hpp>

#include <csignal>
#include <iostream>
#include <string>
#include <thread>

namespace om = omstream;

struct tick {
    BOOST_HANA_DEFINE_STRUCT(tick, (double, price), (std::int64_t, qty));
};

namespace {
std::stop_source stop_all;
extern "C" void on_signal(int) {
    stop_all.request_stop();
}
}  // namespace

int main(int argc, char** argv) {
    const bool test = argc > 1 && std::string(argv[1]) == "--test";
    const std::string name = test ? "omstream-consumer-test" : (argc > 1 ? argv[1] : "ticks");
    try {
        using ring = om::shm_ring<tick>;
        auto c =
            om::stream<ring, om::count_window>::open(name, om::size = 5, om::group = "printer");
        if (test) {  // feed it ourselves and check what comes out
            ring::remove(name);
            c = om::stream<ring, om::count_window>::open(name, om::size = 5, om::group = "printer");
            (void)c.poll([](const auto&) {});
            auto p = om::stream<ring>::open(name);
            for (int i = 0; i < 10; ++i)
                p.append(tick{1.0 * i, i});
            int windows = 0;
            while (c.poll([&](const om::window<tick>& w) { windows += w.size() == 5; })) {
            }
            ring::remove(name);
            return windows == 2 ? 0 : 1;
        }
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        std::stop_callback wake(stop_all.get_token(), [&] { c.stop(); });
        std::cout << "waiting for windows of 5 ticks on '" << name << "' (Ctrl-C to stop)\n";
        c.apply([](const om::window<tick>& w) { std::cout << w << std::endl; },
                stop_all.get_token());
    } catch (const om::error& e) {
        std::cerr << "consumer: " << e.what() << '\n';
        return 1;
    }
}
