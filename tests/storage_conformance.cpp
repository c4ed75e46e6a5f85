// Runs the storage conformance suite on every storage.
#include "conformance/storage_suite.hpp"
#include "support/log_home.hpp"

namespace {

struct memory_family {
    template <class T>
    using type = omstream::memory<T>;
    static constexpr const char* name = "memory";
    static void remove(const std::string& stream) { omstream::memory<int>::remove(stream); }
};

struct shm_ring_family {
    template <class T>
    using type = omstream::shm_ring<T>;
    static constexpr const char* name = "shm";
    static void remove(const std::string& stream) { omstream::shm_ring<int>::remove(stream); }
};

// Logs live under $OMSTREAM_HOME, which the test main points at a scratch
// directory (tests/support/log_home.hpp).
struct mapped_log_family {
    template <class T>
    using type = omstream::mapped_log<T>;
    static constexpr const char* name = "log";
    static void remove(const std::string& stream) { omstream::mapped_log<int>::remove(stream); }
};

}  // namespace

namespace omstream::testing {
using storages = ::testing::Types<memory_family, shm_ring_family, mapped_log_family>;
INSTANTIATE_TYPED_TEST_SUITE_P(all, storage_suite, storages);
}  // namespace omstream::testing
