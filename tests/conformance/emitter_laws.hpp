// The emitter conformance suite (S8): the laws every emitter obeys, as one
// typed GoogleTest suite that each model runs, built-in and custom alike
// (after Hana's law checkers). The suite uses the public API only: it drives
// a memory stream through the emitter with manual clocks.
//
// Laws. For an emitter `e` of type E, any time `t`, state `s`, pending
// window `p` and time `now`:
//   L1 start(t) is deterministic: two calls (on copies of e) give the same
//      state; and it depends on `t` only, not on clock_type::now().
//   L2 next() is a pure function of (p, s, now): the same inputs give the
//      same decision and the same new state; it reads time from `now`, never
//      from clock_type::now().
//   L3 an emit or drop covers at most p.size() records (a prefix of p).
//   L4 a wait's deadline is later than `now` (or time_point::max(): "only a
//      new record can change my mind").
//   L5 a wait leaves the state unchanged (the stream discards state changes
//      made on a wait), and it holds: asked again with the same state, before
//      its deadline and with fewer than `more` further records pending, next()
//      waits again (storages answer such polls without asking).
//   L6 progress: an emit or a drop covers at least one record or changes
//      the state (else it would loop forever; drop(0) is how an emitter moves
//      its state on without delivering anything).
//   L7 driven through a stream over a scripted sequence of appends (single,
//      batched, and late ones from a producer whose clock lags) and clock
//      advances, interleaved with polls, every record is delivered at most
//      once and in sequence order, each window's entries have consecutive
//      sequence numbers from window.first_seq(), and a window is a sized
//      std and range-v3 view whose records are the ones appended.
//   L8 once enough time has passed (Traits::settle) every record has been
//      delivered or dropped as late (counted in metadata().groups[i].late),
//      but for at most Traits::max_held trailing records that wait for more
//      (count_window without max_wait); an emitter that does not drop
//      (Traits::may_drop == false) drops none, so it delivers each record
//      exactly once.
//   L9 the windows depend only on the records and the clock: replaying the
//      same script on another stream gives the same windows.
// States are compared as the bytes the storage keeps (empty states are all
// equal; a state with padding is compared with its operator== if it has one).
//
// Running your emitter through the suite: describe it with a traits struct
// (record_type, settle etc. have defaults in emitter_traits_base) and
// instantiate the suite in a test file that links GTest::gtest_main:
//
//   #include "conformance/emitter_laws.hpp"
//   struct my_traits : omstream::testing::emitter_traits_base {
//       using emitter_type = my_emitter<omstream::manual_clock>;  // a manual clock
//       static constexpr const char* name = "my_emitter";         // [A-Za-z0-9_]
//       static auto options() { return std::tuple(omstream::max_wait = 500ms); }
//   };
//   OMSTREAM_EMITTER_LAWS(mine, my_traits /*, more traits... */);
#pragma once

#include <omstream/core.hpp>

#include <gtest/gtest.h>
#include <boost/hana/at.hpp>
#include <boost/hana/core/is_a.hpp>
#include <boost/hana/integral_constant.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/tuple.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace omstream::testing {

// Defaults for the traits of an emitter under test; derive and override.
struct emitter_traits_base {
    using record_type = int;
    // The storage the laws run on: any storage, the laws do not change.
    template <class T>
    using storage_type = memory<T>;
    // Options the stream is opened with, as a std::tuple of `option = value`.
    static auto options() { return std::tuple<>(); }
    // The i-th record appended (its sequence number is i).
    static int make_record(std::size_t i) { return static_cast<int>(i); }
    // L8: the emitter may drop records as late (fixed_time_window).
    static constexpr bool may_drop = false;
    // L8: trailing records that may wait for more forever (count_window of
    // size N without max_wait: N - 1).
    static constexpr std::size_t max_held = 0;
    // L8: how long after the last append every deadline has passed.
    static constexpr std::chrono::nanoseconds settle = std::chrono::seconds(30);
};

namespace detail {

template <class S>
bool same_state(const S& a, const S& b);

template <class S, std::size_t... I>
bool same_elements(const S& a, const S& b, std::index_sequence<I...>) {
    return (same_state(a[boost::hana::size_c<I>], b[boost::hana::size_c<I>]) && ...);
}

template <class S>
bool same_state(const S& a, const S& b) {
    if constexpr (std::is_empty_v<S>) {
        return true;  // nothing to compare; its one byte is padding
    } else if constexpr (boost::hana::is_a<boost::hana::tuple_tag, S>) {  // first_of's states
        constexpr std::size_t n = decltype(boost::hana::length(a))::value;
        return same_elements(a, b, std::make_index_sequence<n>{});
    } else if constexpr (std::has_unique_object_representations_v<S> ||
                         !std::equality_comparable<S>) {
        return std::memcmp(&a, &b, sizeof(S)) == 0;
    } else {
        return a == b;
    }
}

template <class S>
S copy_state(const S& s) {
    S out;
    std::memcpy(static_cast<void*>(&out), &s, sizeof(S));  // as the storage does
    return out;
}

template <class Clock>
bool same_decision(const decision<Clock>& a, const decision<Clock>& b) {
    return a.what == b.what && a.count == b.count &&
           (a.what != action::wait || (a.deadline == b.deadline && a.more == b.more));
}

template <class Clock>
std::string describe(const decision<Clock>& d) {
    switch (d.what) {
        case action::emit:
            return "emit(" + std::to_string(d.count) + ")";
        case action::drop:
            return "drop(" + std::to_string(d.count) + ")";
        case action::wait:
            break;
    }
    const std::string more = d.more == std::numeric_limits<std::size_t>::max() ? ", no record"
                             : d.more > 1 ? ", more " + std::to_string(d.more)
                                          : "";
    if (d.deadline == Clock::time_point::max())
        return "wait(" + (more.empty() ? "" : "max" + more) + ")";
    return "wait(" + std::to_string(d.deadline.time_since_epoch().count()) + more + ")";
}

// What the law checker saw in the current test.
struct law_counters {
    std::size_t starts = 0, calls = 0, waits = 0, emits = 0, drops = 0;
};
inline law_counters& counters() {
    static law_counters c;
    return c;
}

// Runs `f` with the clock moved far away and put back: a function of `now`
// only gives the same answer.
template <class Clock, class F>
auto with_clock_moved(F&& f) {
    const auto saved = Clock::now();
    Clock::set(saved + std::chrono::hours(24 * 365));
    auto result = f();
    Clock::set(saved);
    return result;
}

}  // namespace detail

// Wraps an emitter and checks L1-L6 on every call the stream makes, on the
// pending windows that real storage hands it; decides exactly as E does.
template <class E>
struct law_checked {
    using emitter_concept = emitter_tag;
    using clock_type = typename E::clock_type;
    using time_point = typename clock_type::time_point;
    using state_type = typename E::state_type;
    using accepted_options = typename E::accepted_options;

    E inner;

    // The last wait this handle saw, to check that it holds (L5).
    struct last_wait {
        bool valid = false;
        std::uint64_t first_seq = 0;
        std::size_t pending = 0;
        decision<clock_type> answer;
        state_type state{};
    };
    mutable last_wait last{};

    template <class Options>
    static law_checked from_options(const Options& options) {
        if constexpr (requires { E::from_options(options); }) {
            return {E::from_options(options)};
        } else {
            return {E{}};
        }
    }

    state_type start(time_point now) const {
        ++detail::counters().starts;
        const state_type a = inner.start(now);
        const E copy = inner;
        const state_type b = copy.start(now);
        EXPECT_TRUE(detail::same_state(a, b)) << "L1: start(t) gave two different states";
        const state_type c = detail::with_clock_moved<clock_type>([&] { return inner.start(now); });
        EXPECT_TRUE(detail::same_state(a, c)) << "L1: start(t) depends on clock_type::now()";
        return a;
    }

    template <class T>
    decision<clock_type> next(const window<T>& pending, state_type& state, time_point now) const {
        auto& seen = detail::counters();
        ++seen.calls;
        const state_type before = detail::copy_state(state);
        state_type again = detail::copy_state(state);
        state_type moved = detail::copy_state(state);

        const decision<clock_type> d = inner.next(pending, state, now);
        const decision<clock_type> d2 = inner.next(pending, again, now);
        const decision<clock_type> d3 =
            detail::with_clock_moved<clock_type>([&] { return inner.next(pending, moved, now); });

        const auto what = detail::describe(d);
        const bool held_on =
            last.valid && last.first_seq == pending.first_seq() &&
            detail::same_state(before, last.state) && now < last.answer.deadline &&
            pending.size() < last.pending + std::max<std::size_t>(last.answer.more, 1);
        EXPECT_TRUE(!held_on || d.what == action::wait)
            << "L5: " << detail::describe(last.answer) << " over " << last.pending
            << " pending did not hold: " << what << " over " << pending.size();
        last.valid = d.what == action::wait;
        if (last.valid) {
            last.first_seq = pending.first_seq();
            last.pending = pending.size();
            last.answer = d;
            last.state = detail::copy_state(before);
        }
        EXPECT_TRUE(detail::same_decision(d, d2) && detail::same_state(state, again))
            << "L2: next() is not a function of (pending, state, now): " << what << " then "
            << detail::describe(d2);
        EXPECT_TRUE(detail::same_decision(d, d3) && detail::same_state(state, moved))
            << "L2: next() reads clock_type::now() instead of `now`: " << what << " then "
            << detail::describe(d3);
        switch (d.what) {
            case action::wait:
                ++seen.waits;
                EXPECT_TRUE(d.deadline > now) << "L4: wait deadline not later than now";
                EXPECT_TRUE(detail::same_state(state, before)) << "L5: a wait changed the state";
                break;
            case action::emit:
                ++seen.emits;
                EXPECT_LE(d.count, pending.size())
                    << "L3: " << what << " over " << pending.size() << " pending";
                EXPECT_TRUE(d.count > 0 || !detail::same_state(state, before))
                    << "L6: emit(0) without a change of state";
                break;
            case action::drop:
                ++seen.drops;
                EXPECT_LE(d.count, pending.size())
                    << "L3: " << what << " over " << pending.size() << " pending";
                EXPECT_TRUE(d.count > 0 || !detail::same_state(state, before))
                    << "L6: drop(0) without a change of state";
                break;
        }
        return d;
    }
};

// The suite. Traits: see emitter_traits_base and the snippet at the top.
template <class Traits>
class emitter_laws : public ::testing::Test {
  protected:
    using emitter_type = typename Traits::emitter_type;
    using record_type = typename Traits::record_type;
    using clock_type = typename emitter_type::clock_type;
    using time_point = typename clock_type::time_point;
    using state_type = typename emitter_type::state_type;
    using storage = typename Traits::template storage_type<record_type>;
    using checked_stream = stream<storage, law_checked<emitter_type>>;
    using plain_stream = stream<storage, emitter_type>;
    using lag_clock = basic_manual_clock<struct emitter_laws_lag_tag>;
    using lagging_producer = stream<storage, basic_count_window<lag_clock>>;

    static_assert(check_emitter<emitter_type, record_type>());
    static_assert(
        is_manual_clock_v<clock_type>,
        "omstream: the emitter conformance suite drives time: instantiate the emitter over "
        "omstream::manual_clock (or another omstream::basic_manual_clock<Tag>)");

    static constexpr time_point origin = time_point(std::chrono::hours(1000));

    void SetUp() override {
        detail::counters() = {};
        clock_type::set(origin);
        lag_clock::set(typename lag_clock::time_point(origin.time_since_epoch()));
    }
    void TearDown() override {
        for (const auto& n : names_)
            storage::remove(n);
    }

    // A stream name no other test uses, removed again when the test ends.
    std::string fresh(const std::string& what) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name =
            std::string("laws-") + info->test_suite_name() + "-" + info->name() + "-" + what;
        for (char& c : name)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
                c = '-';
        storage::remove(name);
        names_.push_back(name);
        return name;
    }

    template <class Stream>
    static Stream open(const std::string& name) {
        return std::apply([&](auto... options) { return Stream::open(name, options...); },
                          Traits::options());
    }

    // The emitter as a stream opened with the traits' options builds it.
    emitter_type make_emitter() { return open<plain_stream>(fresh("emitter")).emitter(); }

    struct delivery {
        std::vector<std::vector<std::uint64_t>> windows;  // sequence numbers, window by window
        std::size_t appended = 0;
        group_metadata group;
    };

    // Checks L7 on one window and records it.
    static void take(const window<record_type>& w, delivery& out) {
        static_assert(std::ranges::view<window<record_type>> &&
                      std::ranges::sized_range<window<record_type>>);
        static_assert(::ranges::view_<window<record_type>>);
        std::vector<std::uint64_t> seqs;
        for (auto e : w.entries()) {
            seqs.push_back(e.seq());
            if constexpr (std::equality_comparable<record_type>) {
                EXPECT_TRUE(e.data() == Traits::make_record(static_cast<std::size_t>(e.seq())))
                    << "L7: record " << e.seq() << " is not what was appended";
            }
        }
        EXPECT_EQ(seqs.size(), w.size());
        EXPECT_EQ(static_cast<std::size_t>(std::ranges::distance(w.begin(), w.end())), w.size());
        for (std::size_t i = 0; i < seqs.size(); ++i)
            EXPECT_EQ(seqs[i], w.first_seq() + i)
                << "L7: window entries are not consecutive from first_seq()";
        out.windows.push_back(std::move(seqs));
    }

    // Appends, advances and polls along a script drawn from `seed`, then lets
    // Traits::settle pass and drains the stream.
    delivery drive(const std::string& name, unsigned seed, int steps = 80) {
        clock_type::set(origin);
        lag_clock::set(typename lag_clock::time_point(origin.time_since_epoch()));
        auto consumer = open<checked_stream>(name);
        auto producer = open<checked_stream>(name);
        auto lagging = lagging_producer::open(name);
        delivery out;
        auto poll = [&] {
            return consumer.poll([&](const window<record_type>& w) { take(w, out); });
        };
        auto next_record = [&] { return Traits::make_record(out.appended++); };

        poll();  // the group starts here
        std::minstd_rand random(seed);
        for (int step = 0; step < steps; ++step) {
            const auto r = random();
            switch (r % 8) {
                case 0:
                case 1:
                case 2:
                case 3:
                    producer.append(next_record());
                    break;
                case 4: {
                    std::vector<record_type> batch;
                    for (unsigned i = 0, n = 1 + (r / 8) % 5; i < n; ++i)
                        batch.push_back(next_record());
                    producer.append(batch);
                    break;
                }
                case 5: {  // a record created up to 3 s ago
                    const auto lag = std::chrono::milliseconds((r / 8) % 3000);
                    lag_clock::set(
                        typename lag_clock::time_point(clock_type::now().time_since_epoch() - lag));
                    lagging.append(next_record());
                    break;
                }
                default:
                    break;
            }
            clock_type::advance(std::chrono::milliseconds(random() % 1200));
            for (unsigned polls = random() % 3; polls != 0; --polls)
                poll();
            if (::testing::Test::HasFailure())
                return out;  // one broken law, not a page of them
        }
        clock_type::advance(Traits::settle);
        for (int guard = 0; poll() && !::testing::Test::HasFailure(); ++guard) {
            if (guard == 100'000) {
                ADD_FAILURE() << "L8: the stream keeps emitting windows with no time passing";
                break;
            }
        }
        for (const auto& g : consumer.metadata().groups)
            if (g.name == consumer.group())
                out.group = g;
        return out;
    }

    static std::vector<std::uint64_t> flatten(const delivery& d) {
        std::vector<std::uint64_t> all;
        for (const auto& w : d.windows)
            all.insert(all.end(), w.begin(), w.end());
        return all;
    }

  private:
    std::vector<std::string> names_;
};

TYPED_TEST_SUITE_P(emitter_laws);

TYPED_TEST_P(emitter_laws, start_is_deterministic) {
    using clock_type = typename TestFixture::clock_type;
    const auto e = this->make_emitter();
    const auto copy = e;
    for (const auto t :
         {TestFixture::origin, TestFixture::origin + std::chrono::nanoseconds(1),
          TestFixture::origin + std::chrono::hours(5), typename clock_type::time_point{}}) {
        const auto a = e.start(t);
        const auto b = copy.start(t);
        EXPECT_TRUE(detail::same_state(a, b)) << "L1 at t = " << t.time_since_epoch().count();
        const auto c = detail::with_clock_moved<clock_type>([&] { return e.start(t); });
        EXPECT_TRUE(detail::same_state(a, c)) << "L1: start(t) depends on clock_type::now()";
    }
}

TYPED_TEST_P(emitter_laws, next_obeys_the_laws_on_empty_pending) {
    using record_type = typename TestFixture::record_type;
    using emitter_type = typename TestFixture::emitter_type;
    const law_checked<emitter_type> e{this->make_emitter()};
    const window<record_type> nothing;
    const auto t0 = TestFixture::origin;
    for (const auto now :
         {t0, t0 + std::chrono::nanoseconds(1), t0 + std::chrono::milliseconds(999),
          t0 + std::chrono::seconds(1), t0 + std::chrono::hours(1)}) {
        auto state = e.start(t0);
        // Ask until it waits, as a consumer would (a time window catches up).
        for (int i = 0; i < 10'000; ++i) {
            const auto d = e.next(nothing, state, now);
            if (d.what == action::wait || ::testing::Test::HasFailure())
                break;
            EXPECT_EQ(d.what, action::emit) << "nothing to drop";
        }
    }
    EXPECT_GT(detail::counters().calls, 0u);
}

TYPED_TEST_P(emitter_laws, scripted_drive_delivers_at_most_once_in_order) {
    const auto got = this->drive(this->fresh("s"), 1);
    const auto all = TestFixture::flatten(got);
    EXPECT_TRUE(std::ranges::is_sorted(all, std::ranges::less_equal{}))
        << "L7: out of order or twice";
    EXPECT_TRUE(std::ranges::adjacent_find(all) == all.end()) << "L7: a record delivered twice";
    EXPECT_GT(detail::counters().calls, 0u);
    EXPECT_GT(detail::counters().emits, 0u) << "the script should have produced windows";
}

TYPED_TEST_P(emitter_laws, settled_stream_delivered_or_dropped_every_record) {
    for (unsigned seed : {2u, 3u, 4u}) {
        const auto got = this->drive(this->fresh("s" + std::to_string(seed)), seed);
        const auto all = TestFixture::flatten(got);
        const std::uint64_t position = got.group.position;  // every record below it was handed out
        EXPECT_LE(got.appended - position, TypeParam::max_held)
            << "L8: records still held, seed " << seed;
        EXPECT_EQ(all.size() + got.group.late, position)
            << "L8: records neither delivered nor dropped";
        EXPECT_TRUE(all.empty() || all.back() < position);
        if (!TypeParam::may_drop) {
            EXPECT_EQ(got.group.late, 0u) << "L8: this emitter must not drop";
            for (std::size_t i = 0; i < all.size(); ++i)
                ASSERT_EQ(all[i], i) << "L8: not exactly once";
        }
    }
}

TYPED_TEST_P(emitter_laws, replay_gives_the_same_windows) {
    const auto a = this->drive(this->fresh("a"), 5);
    const auto b = this->drive(this->fresh("b"), 5);
    EXPECT_EQ(a.windows, b.windows) << "L9";
    EXPECT_EQ(a.group.late, b.group.late) << "L9";
}

REGISTER_TYPED_TEST_SUITE_P(emitter_laws, start_is_deterministic,
                            next_obeys_the_laws_on_empty_pending,
                            scripted_drive_delivers_at_most_once_in_order,
                            settled_stream_delivered_or_dropped_every_record,
                            replay_gives_the_same_windows);

// Names instantiations after Traits::name when it has one.
struct emitter_traits_name {
    template <class Traits>
    static std::string GetName(int i) {
        if constexpr (requires { Traits::name; }) {
            return Traits::name;
        } else {
            return std::to_string(i);
        }
    }
};

}  // namespace omstream::testing

// Runs the suite on each traits type: OMSTREAM_EMITTER_LAWS(prefix, traits...);
// at namespace scope, once per prefix per test program.
#define OMSTREAM_EMITTER_LAWS(PREFIX, ...)                                           \
    namespace omstream::testing {                                                    \
    using PREFIX##_emitter_law_types = ::testing::Types<__VA_ARGS__>;                \
    INSTANTIATE_TYPED_TEST_SUITE_P(PREFIX, emitter_laws, PREFIX##_emitter_law_types, \
                                   ::omstream::testing::emitter_traits_name);        \
    }                                                                                \
    static_assert(true, "")
