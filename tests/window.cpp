// window<T> is a view (S12) for both std::ranges and range-v3, random-access
// when records are fixed-size, and adaptors of both libraries apply to it.
#include <omstream/stream.hpp>

#include <gtest/gtest.h>

#include <range/v3/algorithm/equal.hpp>
#include <range/v3/numeric/accumulate.hpp>
#include <range/v3/range/conversion.hpp>
#include <range/v3/view/chunk.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/transform.hpp>

#include <ranges>
#include <string>
#include <vector>

namespace om = omstream;

struct point {
    BOOST_HANA_DEFINE_STRUCT(point, (double, x), (double, y));
};

static_assert(std::ranges::view<om::window<int>>);
static_assert(std::ranges::random_access_range<om::window<int>>);
static_assert(std::ranges::sized_range<om::window<int>>);
static_assert(std::ranges::common_range<om::window<int>>);
static_assert(std::ranges::view<om::window<point>>);
static_assert(std::ranges::random_access_range<om::window<point>>);
static_assert(std::ranges::view<om::window<std::string>>);
static_assert(std::ranges::forward_range<om::window<std::string>>);
static_assert(!std::ranges::random_access_range<om::window<std::string>>);
static_assert(ranges::view_<om::window<int>>);
static_assert(ranges::random_access_range<om::window<int>>);
static_assert(ranges::view_<om::window<std::string>>);
static_assert(ranges::forward_range<om::window<std::string>>);
static_assert(std::is_default_constructible_v<om::window<int>> && std::copyable<om::window<int>>);
static_assert(std::ranges::view<om::entries_view<int>> && ranges::view_<om::entries_view<int>>);
// Fixed-size records are read in place, not copied (S2).
static_assert(std::is_same_v<std::ranges::range_reference_t<om::window<point>>, const point&>);

namespace {

template <class T>
auto open(const std::string& name, std::size_t size) {
    om::memory<T>::remove(name);
    return om::stream<om::memory<T>>::open(name, om::size = size);
}

TEST(window, std_views_pipelines_apply) {
    auto s = open<int>("window-std", 10);
    for (int i = 1; i <= 10; ++i)
        s.append(i);
    ASSERT_TRUE(s.poll([](const om::window<int>& w) {
        auto evens = w | std::views::filter([](int v) { return v % 2 == 0; }) |
                     std::views::transform([](int v) { return v * 10; });
        EXPECT_EQ(std::vector<int>(evens.begin(), evens.end()),
                  (std::vector<int>{20, 40, 60, 80, 100}));
        auto last3 = w | std::views::drop(7) | std::views::reverse;
        EXPECT_EQ(std::vector<int>(last3.begin(), last3.end()), (std::vector<int>{10, 9, 8}));
        EXPECT_EQ(w[4], 5);
        EXPECT_EQ(w.size(), 10u);
        EXPECT_EQ(w.front(), 1);
        EXPECT_EQ(w.back(), 10);
    }));
    om::memory<int>::remove("window-std");
}

TEST(window, range_v3_pipelines_apply) {
    auto s = open<int>("window-rv3", 9);
    for (int i = 1; i <= 9; ++i)
        s.append(i);
    ASSERT_TRUE(s.poll([](const om::window<int>& w) {
        const auto sums =
            w | ranges::views::chunk(3) |
            ranges::views::transform([](auto chunk) { return ranges::accumulate(chunk, 0); }) |
            ranges::to<std::vector>();
        EXPECT_EQ(sums, (std::vector<int>{6, 15, 24}));
        EXPECT_TRUE(ranges::equal(w | ranges::views::filter([](int v) { return v > 7; }),
                                  std::vector<int>{8, 9}));
    }));
    om::memory<int>::remove("window-rv3");
}

TEST(window, variable_length_records_iterate_forward) {
    auto s = open<std::string>("window-strings", 3);
    s.append(std::vector<std::string>{"a", "bb", "ccc"});
    ASSERT_TRUE(s.poll([](const om::window<std::string>& w) {
        auto sizes = w | std::views::transform([](const std::string& v) { return v.size(); });
        EXPECT_EQ(std::vector<std::size_t>(sizes.begin(), sizes.end()),
                  (std::vector<std::size_t>{1, 2, 3}));
        EXPECT_EQ(std::ranges::distance(w), 3);
    }));
    om::memory<std::string>::remove("window-strings");
}

TEST(window, entries_carry_sequence_and_creation_time) {
    auto s = open<point>("window-entries", 2);
    s.append(point{1, 2});
    s.append(point{3, 4});
    ASSERT_TRUE(s.poll([](const om::window<point>& w) {
        EXPECT_EQ(w.first_seq(), 0u);
        EXPECT_GT(w.created_ns(), 0);
        std::uint64_t expected = 0;
        for (auto e : w.entries()) {
            EXPECT_EQ(e.seq(), expected++);
            EXPECT_LE(e.created_ns(), w.created_ns());
        }
        EXPECT_EQ(w.entries()[1].data().x, 3);
        // Random access across the whole window, forwards and backwards.
        auto it = w.begin() + 2;
        --it;
        EXPECT_EQ(it->y, 4);
        EXPECT_EQ(w.end() - w.begin(), 2);
    }));
    om::memory<point>::remove("window-entries");
}

TEST(window, a_window_spanning_many_chunks_is_still_random_access) {
    // 100,000 records of 32-byte frames span several 1 MiB chunks.
    auto s = open<std::uint64_t>("window-chunks", 100'000);
    std::vector<std::uint64_t> batch(100'000);
    for (std::uint64_t i = 0; i < batch.size(); ++i)
        batch[i] = i;
    s.append(batch);
    ASSERT_TRUE(s.poll([](const om::window<std::uint64_t>& w) {
        ASSERT_EQ(w.size(), 100'000u);
        for (std::uint64_t i : {0ul, 1ul, 32'767ul, 32'768ul, 65'535ul, 99'999ul})
            EXPECT_EQ(w[i], i);
        auto it = w.end();
        it -= 1;
        EXPECT_EQ(*it, 99'999u);
        it -= 50'000;
        EXPECT_EQ(*it, 49'999u);
        std::uint64_t n = 0;
        for (auto v : w)
            EXPECT_EQ(v, n++);
        EXPECT_EQ(n, 100'000u);
    }));
    om::memory<std::uint64_t>::remove("window-chunks");
}

TEST(window, a_default_window_is_empty) {
    const om::window<int> w;
    EXPECT_TRUE(w.empty());
    EXPECT_EQ(w.begin(), w.end());
}

}  // namespace
