// detail/emitter_identity.hpp: a group's emitter identity is the same for
// programs built by different compilers (GCC and Clang spell some types
// differently), and the two time windows share theirs.
#include <omstream/core.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace om = omstream;
namespace detail = omstream::detail;

namespace {

struct own_clock_tag {};
using own_clock = om::basic_manual_clock<own_clock_tag>;

// What each compiler prints for the same types.
static_assert(detail::spelling_hash("omstream::x<std::chrono::_V2::system_clock, a<b> >") ==
              detail::spelling_hash("omstream::x<std::chrono::system_clock,a<b>>"));
static_assert(detail::spelling_hash("std::__1::vector<int>") ==
              detail::spelling_hash("std::vector<int>"));
static_assert(detail::spelling_hash("a<int>") != detail::spelling_hash("a<long>"));

// The library's emitters name themselves and their clock, not their spelling.
static_assert(detail::state_id_of<om::count_window>() == detail::fnv1a("omstream::count_window"));
static_assert(detail::state_id_of<om::fixed_time_window>() ==
              detail::fnv1a("omstream::time_window", detail::fnv1a("std::chrono::system_clock")));
static_assert(detail::identity_of<om::fixed_time_window>().id ==
              detail::identity_of<om::relaxed_time_window>().id);
static_assert(detail::identity_of<om::fixed_time_window>().id !=
              detail::identity_of<om::basic_fixed_time_window<own_clock>>().id);
static_assert(detail::identity_of<om::fixed_time_window>().id !=
              detail::identity_of<om::count_window>().id);
static_assert(detail::identity_of<om::first_of<om::count_window, om::relaxed_time_window>>().id !=
              detail::identity_of<om::first_of<om::relaxed_time_window, om::count_window>>().id);
static_assert(detail::identity_of<om::first_of<om::count_window, om::fixed_time_window>>().id ==
              detail::identity_of<om::first_of<om::count_window, om::relaxed_time_window>>().id);

TEST(emitter_identity, is_never_zero_which_means_unknown) {
    EXPECT_NE(detail::identity_of<om::count_window>().id, 0u);
    EXPECT_TRUE(detail::same_emitter(0, 7));
    EXPECT_TRUE(detail::same_emitter(7, 0));
    EXPECT_FALSE(detail::same_emitter(7, 8));
}

}  // namespace
