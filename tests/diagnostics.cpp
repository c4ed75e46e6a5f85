// omstream/diagnostics.hpp: messages go to the handler a program sets, to
// nowhere with nullptr, and a throwing handler never fails the caller.
#include <omstream/diagnostics.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace om = omstream;

namespace {

std::vector<std::string>& received() {
    static std::vector<std::string> messages;
    return messages;
}

void collect(std::string_view message) {
    received().emplace_back(message);
}

void throwing(std::string_view) {
    throw std::runtime_error("the program's logger failed");
}

// Restores the handler a test replaced, whatever the test did.
struct handler_guard {
    om::diagnostic_handler previous;
    explicit handler_guard(om::diagnostic_handler h) : previous(om::set_diagnostic_handler(h)) {}
    ~handler_guard() { om::set_diagnostic_handler(previous); }
};

TEST(diagnostics, messages_go_to_the_handler_the_program_sets_and_it_gets_the_old_one_back) {
    received().clear();
    {
        handler_guard guard(&collect);
        EXPECT_NE(guard.previous, nullptr) << "the default handler writes to stderr";
        om::detail::diagnose("recovery cut 3 records");
        EXPECT_EQ(om::set_diagnostic_handler(&collect), &collect);
    }
    ASSERT_EQ(received(), std::vector<std::string>{"recovery cut 3 records"});
    om::detail::diagnose("after the guard");  // back to the default: not collected
    EXPECT_EQ(received().size(), 1u);
}

TEST(diagnostics, a_null_handler_drops_messages_and_a_throwing_one_fails_nobody) {
    {
        handler_guard guard(nullptr);
        EXPECT_NO_THROW(om::detail::diagnose("dropped"));
    }
    {
        handler_guard guard(&throwing);
        EXPECT_NO_THROW(om::detail::diagnose("the logger throws"));
    }
}

}  // namespace
