// Options (options.hpp): users define their own with OMSTREAM_DEFINE_OPTION
// in their own namespace (docs/emitters.md), and duration options take
// std::chrono durations of any period (a bare number does not compile: see
// compile_fail/duration_option_bare_number.cpp).
#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

using namespace std::chrono_literals;

// Outside namespace omstream, as docs/emitters.md tells users to do.
namespace user_code {

OMSTREAM_DEFINE_OPTION(threshold, double);

// Emits once the pending records add up to the threshold.
struct threshold_window {
    using emitter_concept = omstream::emitter_tag;
    using clock_type = std::chrono::system_clock;
    struct state_type {};
    using accepted_options = boost::hana::tuple<boost::hana::type<threshold_option>>;

    double threshold = 10;

    template <class Options>
    static threshold_window from_options(const Options& options) {
        return {options.template get<threshold_option>(10.0)};
    }
    state_type start(clock_type::time_point) const { return {}; }
    template <class T>
    omstream::decision<clock_type> next(const omstream::window<T>& pending, state_type&,
                                        clock_type::time_point) const {
        double sum = 0;
        std::size_t n = 0;
        for (const auto& value : pending) {
            sum += value;
            ++n;
            if (sum >= threshold)
                return omstream::decision<clock_type>::emit(n);
        }
        return omstream::decision<clock_type>::wait();
    }
};

}  // namespace user_code

namespace {

static_assert(omstream::check_emitter<user_code::threshold_window, int>());

TEST(options, a_user_option_defined_in_a_user_namespace_reaches_a_custom_emitter) {
    using store = omstream::memory<int>;
    store::remove("options-threshold");
    auto s = omstream::stream<store, user_code::threshold_window>::open("options-threshold",
                                                                        user_code::threshold = 5.0);
    s.append(std::vector<int>{1, 2, 3, 4});
    std::vector<int> got;
    EXPECT_TRUE(s.poll([&](const omstream::window<int>& w) { got.assign(w.begin(), w.end()); }));
    EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));  // 1 + 2 + 3 >= 5
    store::remove("options-threshold");
}

TEST(options, duration_options_take_durations_of_any_period) {
    EXPECT_EQ((omstream::max_wait = 50ms).value, 50ms);
    EXPECT_EQ((omstream::interval = 2min).value, 120s);
    EXPECT_EQ((omstream::timeout = 250us).value, 250us);
    EXPECT_EQ((omstream::max_age = 1h).value, 3600s);
    // Floating and finer periods round up: a non-zero duration stays non-zero.
    EXPECT_EQ((omstream::max_wait = 1.5s).value, 1500ms);
    EXPECT_EQ((omstream::interval = std::chrono::duration<long long, std::pico>(1)).value, 1ns);
}

// Converted unchecked, years(300) wrapped to a negative count of nanoseconds
// and was refused as "interval must be positive", or worse, a larger one
// wrapped to a positive one.
TEST(options, a_duration_beyond_int64_nanoseconds_is_refused_with_the_range) {
    const auto refused = [](auto make, const char* what) {
        try {
            (void)make();
            ADD_FAILURE() << what << " accepted";
        } catch (const omstream::error& e) {
            EXPECT_EQ(e.code_value(), omstream::errc::invalid_option) << what;
            const std::string message = e.what();
            EXPECT_NE(message.find("'interval'"), std::string::npos) << message;
            EXPECT_NE(message.find("9223372036854775807 ns"), std::string::npos) << message;
            EXPECT_NE(message.find("292 years"), std::string::npos) << message;
        }
    };
    refused([] { return omstream::interval = std::chrono::years(300); }, "300 years");
    refused([] { return omstream::interval = std::chrono::years(-300); }, "-300 years");
    refused([] { return omstream::interval = std::chrono::years(600); }, "600 years");
    refused([] { return omstream::interval = std::chrono::duration<double>(1e300); }, "1e300 s");
    refused(
        [] {
            return omstream::interval =
                       std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN());
        },
        "NaN s");
    EXPECT_EQ((omstream::interval = std::chrono::years(292)).value,
              std::chrono::nanoseconds(std::chrono::years(292)));
    EXPECT_EQ((omstream::max_wait = std::chrono::nanoseconds::max()).value,
              std::chrono::nanoseconds::max());
}

}  // namespace
