// stale_index without touching any file (see README.md here): a producer is
// SIGKILLed in the middle of a batch append, after write() stored sparse-index
// entries for frames it never published; recovery cuts the log before them but
// leaves the entries; later appends reuse those sequence numbers at other
// positions; a group that starts at from_seq(9) is sent by locate() to a stale
// entry past the end of the log and never receives records 9..14.
//
//   g++ -std=c++20 -I include tests/fuzz/crashes/stale_index-killed_producer.cpp -o /tmp/stale
//   /tmp/stale   # prints "group 'late' from_seq(9) got 0 records (expected 6)" while the bug lasts
#include <omstream/stream.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace om = omstream;

struct rec {
    std::string s;
};
template <>
struct omstream::codec<rec> {
    static constexpr std::size_t fixed_size = 0;
    static constexpr std::string_view name = "rec";
    static std::size_t encoded_size(const rec& r) { return r.s.size(); }
    static void encode(const rec& r, std::byte* out) {
        if (r.s == "KILL")
            ::raise(SIGKILL);  // the producer dies in the middle of its batch
        std::memcpy(out, r.s.data(), r.s.size());
    }
    static rec decode(std::span<const std::byte> b) {
        return {std::string(reinterpret_cast<const char*>(b.data()), b.size())};
    }
};
using log_stream = om::stream<om::mapped_log<rec>>;

int main() {
    char tmpl[] = "/tmp/omstream-stale-index-XXXXXX";
    const std::string root = ::mkdtemp(tmpl);
    auto open = [&](auto... options) {
        return log_stream::open("demo", om::root = root, om::segment_size = std::size_t{65536},
                                options...);
    };
    {
        auto s = open();
        for (int i = 0; i < 5; ++i)
            s.append(rec{"aaaa"});  // records 0..4
    }
    if (const pid_t pid = ::fork(); pid == 0) {
        auto s = open();
        std::vector<rec> batch(10, rec{std::string(200, 'b')});  // 224-byte frames: index entries
        batch.push_back(rec{"KILL"});
        s.append(batch);
        std::_Exit(0);
    } else {
        int status = 0;
        ::waitpid(pid, &status, 0);
        std::printf("producer: %s\n", WIFSIGNALED(status) ? "killed" : "exited");
    }
    auto s = open();  // alone: recovers
    const auto md = s.metadata();
    std::printf("after recovery: %llu records; %s\n", static_cast<unsigned long long>(md.appended),
                md.recovery_note.c_str());
    for (int i = 0; i < 10; ++i)
        s.append(rec{"c" + std::to_string(i)});  // records 5..14, 32-byte frames
    auto late = open(om::group = std::string("late"), om::start = om::from_seq(9));
    int got = 0;
    for (int i = 0; i < 100; ++i)
        late.poll([&](const om::window<rec>& w) { got += static_cast<int>(w.size()); });
    auto all = open(om::group = std::string("all"));
    int n = 0;
    for (int i = 0; i < 100; ++i)
        all.poll([&](const om::window<rec>& w) { n += static_cast<int>(w.size()); });
    std::printf("group 'late' from_seq(9) got %d records (expected 6)\n", got);
    std::printf("group 'all' from the oldest got %d records (expected 15)\n", n);
    std::filesystem::remove_all(root);
    return got == 6 && n == 15 ? 0 : 1;
}
