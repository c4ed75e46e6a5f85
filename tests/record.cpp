// Records (S2) and their fingerprints (S3): which types are storable, how
// they are encoded, and what distinguishes one layout from another.
#include <omstream/stream.hpp>
#if OMSTREAM_HAVE_JSON
#include <omstream/codec/json.hpp>
#endif

#include <gtest/gtest.h>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/transform.hpp>

#include <array>
#include <cstring>
#include <ranges>
#include <stop_token>
#include <string>
#include <vector>

#include <unistd.h>

namespace om = omstream;

struct tick {
    BOOST_HANA_DEFINE_STRUCT(tick, (double, price), (std::int64_t, qty));
};
struct tick_renamed {
    BOOST_HANA_DEFINE_STRUCT(tick_renamed, (double, cost), (std::int64_t, qty));
};
struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::string, symbol), (tick, at),
                             (std::vector<std::byte>, note));
};
struct over_aligned {
    alignas(32) double value;
};

// A user type with its own codec: a fixed-point price stored as cents.
struct price {
    double dollars;
    price() = default;
    explicit price(double d) : dollars(d) {}
    price(const price&) = default;
    ~price() {}  // not trivially copyable on purpose
};

template <>
struct omstream::codec<price> {
    static constexpr std::size_t fixed_size = sizeof(std::int64_t);
    static constexpr std::string_view name = "price";
    static std::size_t encoded_size(const price&) { return fixed_size; }
    static void encode(const price& p, std::byte* out) {
        const auto cents = static_cast<std::int64_t>(p.dollars * 100 + 0.5);
        std::memcpy(out, &cents, sizeof cents);
    }
    static price decode(std::span<const std::byte> bytes) {
        std::int64_t cents;
        std::memcpy(&cents, bytes.data(), sizeof cents);
        return price(static_cast<double>(cents) / 100);
    }
};

static_assert(om::record<int>);
static_assert(om::record<tick>);
static_assert(om::record<order>);
static_assert(om::record<std::string>);
static_assert(om::record<std::vector<std::byte>>);
static_assert(om::record<price>);
static_assert(om::record<over_aligned>);
static_assert(!om::record<std::vector<int>>);  // no codec: refused (see the compile-fail test)
static_assert(!om::record<int*>);              // pointers mean nothing in another process
static_assert(om::record_traits<tick>::fixed_size && !om::record_traits<order>::fixed_size);

namespace {

template <class T>
std::vector<T> round_trip(const std::string& name, const std::vector<T>& input) {
    om::memory<T>::remove(name);
    auto s = om::stream<om::memory<T>>::open(name, om::size = input.size());
    s.append(input);
    std::vector<T> out;
    EXPECT_TRUE(s.poll([&](const om::window<T>& w) {
        for (auto&& v : w)
            out.push_back(v);
    }));
    om::memory<T>::remove(name);
    return out;
}

TEST(record, trivially_copyable_records_round_trip) {
    const auto out = round_trip<tick>("rec-tick", {{1.5, 2}, {-3.25, 4}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].price, -3.25);
    EXPECT_EQ(out[1].qty, 4);
    const auto aligned = round_trip<over_aligned>("rec-aligned", {{1.0}, {2.0}});
    EXPECT_EQ(aligned[1].value, 2.0);
}

TEST(record, reflected_structs_with_string_members_round_trip) {
    const order a{"ACME", {10.5, 3}, {std::byte{1}, std::byte{2}}};
    const order b{std::string(5000, 'z'), {0, -1}, {}};
    const auto out = round_trip<order>("rec-order", {a, b});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].symbol, "ACME");
    EXPECT_EQ(out[0].at.price, 10.5);
    EXPECT_EQ(out[0].note, a.note);
    EXPECT_EQ(out[1].symbol, b.symbol);
    EXPECT_EQ(out[1].at.qty, -1);
    EXPECT_TRUE(out[1].note.empty());
}

TEST(record, byte_buffers_and_user_codecs_round_trip) {
    const std::vector<std::byte> bytes{std::byte{0}, std::byte{255}, std::byte{7}};
    EXPECT_EQ(round_trip<std::vector<std::byte>>("rec-bytes", {bytes, {}}),
              (std::vector<std::vector<std::byte>>{bytes, {}}));
    const auto prices = round_trip<price>("rec-price", {price(1.25), price(99.99)});
    EXPECT_DOUBLE_EQ(prices[1].dollars, 99.99);
    EXPECT_EQ(om::record_traits<price>::name(), "price");
}

#if OMSTREAM_HAVE_JSON
TEST(record, json_records_round_trip_and_print_as_json) {
    const nlohmann::json record = {{"foo", "bar"}, {"n", 3}};
    const auto out = round_trip<nlohmann::json>("rec-json", {record, nlohmann::json::array()});
    EXPECT_EQ(out[0], record);
    EXPECT_TRUE(out[1].is_array());
    std::ostringstream printed;
    om::print_record(printed, record);
    EXPECT_EQ(printed.str(), R"({"foo":"bar","n":3})");
}

// A value that is not valid JSON text (a string with invalid UTF-8) is an
// omstream::error before anything is appended, not nlohmann's exception.
TEST(record, a_json_record_that_cannot_be_written_is_refused_and_nothing_is_appended) {
    auto s = om::stream<om::memory<nlohmann::json>>::open("rec-json-bad-utf8");
    const nlohmann::json bad = {{"name", std::string("\xff\xfe")}};
    try {
        s.append(bad);
        FAIL() << "invalid UTF-8 must be refused";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::invalid_record) << e.what();
        EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s.metadata().appended, 0u);
    s.append(nlohmann::json{{"name", "ok"}});
    EXPECT_EQ(s.metadata().appended, 1u);
}

// Windows of json records are views like any other (S12). This once failed to
// compile: ADL on window_iterator<json> found json's friend swap, whose
// converting constructor asked again whether the iterator was swappable.
using json_window = om::window<nlohmann::json>;
static_assert(std::ranges::view<json_window> && ranges::view_<json_window>);
static_assert(std::ranges::forward_range<json_window> && ranges::forward_range<json_window>);
static_assert(!std::ranges::random_access_range<json_window>);  // records vary in size
static_assert(std::ranges::sized_range<json_window> && std::ranges::common_range<json_window>);
static_assert(std::ranges::view<om::entries_view<nlohmann::json>> &&
              ranges::view_<om::entries_view<nlohmann::json>>);

std::vector<nlohmann::json> numbered(int n) {
    std::vector<nlohmann::json> records;
    for (int i = 1; i <= n; ++i)
        records.push_back(nlohmann::json{{"n", i}});
    return records;
}

int field_n(const nlohmann::json& j) {
    return j.at("n").get<int>();
}

TEST(record, json_windows_take_std_views_range_v3_and_apply) {
    using store = om::memory<nlohmann::json>;
    store::remove("rec-json-apply");
    auto s = om::stream<store>::open("rec-json-apply", om::size = 3);
    s.append(numbered(3));
    std::stop_source stop;
    std::vector<int> taken, all;
    std::vector<std::uint64_t> seqs;
    s.apply(
        [&](const json_window& w) {
            for (int n : w | std::views::transform(field_n) | std::views::take(2))
                taken.push_back(n);
            all = w | ranges::views::transform(field_n) | ranges::to<std::vector>();
            for (const auto& e : w.entries())
                seqs.push_back(e.seq());
            stop.request_stop();
        },
        stop.get_token());
    EXPECT_EQ(taken, (std::vector<int>{1, 2}));
    EXPECT_EQ(all, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{0, 1, 2}));
    store::remove("rec-json-apply");
}

TEST(record, json_records_poll_from_a_shm_ring) {
    using ring = om::shm_ring<nlohmann::json>;
    const std::string name = "rec-json-shm-" + std::to_string(::getpid());
    ring::remove(name);
    {
        auto s = om::stream<ring>::open(name, om::size = 2);
        s.append(numbered(2));
        std::vector<int> got;
        EXPECT_TRUE(s.poll([&](const json_window& w) {
            for (const nlohmann::json& j : w)
                got.push_back(field_n(j));
        }));
        EXPECT_EQ(got, (std::vector<int>{1, 2}));
    }
    ring::remove(name);
}
#endif

TEST(record, fingerprints_tell_layouts_apart) {
    using om::record_traits;
    EXPECT_EQ(record_traits<tick>::fingerprint(), record_traits<tick>::fingerprint());
    EXPECT_NE(record_traits<tick>::fingerprint(), record_traits<tick_renamed>::fingerprint());
    EXPECT_NE(record_traits<std::int64_t>::fingerprint(), record_traits<double>::fingerprint());
    EXPECT_NE(record_traits<std::int32_t>::fingerprint(),
              record_traits<std::uint32_t>::fingerprint());
    EXPECT_EQ(record_traits<tick>::layout(),
              "tick/size=16/align=8{price:double/size=8/align=8,qty:std::int64_t/size=8/align=8}");
    EXPECT_NE(record_traits<order>::layout().find("symbol:std::string"), std::string::npos);
}

TEST(record, reflected_structs_print_field_by_field) {
    std::ostringstream out;
    om::print_record(out, order{"ACME", {1.5, 2}, {}});
    EXPECT_EQ(out.str(), "{symbol: ACME, at: {price: 1.5, qty: 2}, note: <0 bytes>}");
}

// A byte buffer prints as the number of bytes it holds, not sizeof(vector).
TEST(record, byte_buffers_print_their_length) {
    const std::vector<std::byte> two{std::byte{1}, std::byte{2}};
    std::ostringstream out;
    om::print_record(out, two);
    out << ' ';
    om::print_record(out, std::vector<std::byte>{});
    out << ' ';
    om::print_record(out, order{"X", {0, 0}, two});
    EXPECT_EQ(out.str(),
              "<2 bytes> <0 bytes> {symbol: X, at: {price: 0, qty: 0}, note: <2 bytes>}");
}

}  // namespace
