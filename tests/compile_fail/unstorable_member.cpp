// expect: a member of this BOOST_HANA_DEFINE_STRUCT record cannot be stored
// expect: Member = std::vector<int>
// A reflected struct is a record only if every member is: the error names
// the member type that has no codec, not a failure deep inside encode().
#include <omstream/stream.hpp>

#include <string>
#include <vector>

struct order {
    BOOST_HANA_DEFINE_STRUCT(order, (std::string, id), (std::vector<int>, fills));
};

int main() {
    auto s = omstream::stream<omstream::memory<order>>::open("orders");
    s.append(order{});
}
