// detail/shared_groups.hpp: the consumer-group table that shm_ring and
// mapped_log keep in shared memory. Here on a table in anonymous shared
// memory, so that forked children see it: a group whose creation failed
// (its start callback threw) must stay joinable, and a slot left "being set
// up" by a process that is gone (or whose pid now names another process)
// must not keep joiners waiting. Every join runs in a child process under an
// alarm, so that a hang fails the test instead of blocking it.
#include <omstream/detail/shared_groups.hpp>

#include "support/processes.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <new>
#include <span>
#include <stdexcept>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace om = omstream;
namespace detail = omstream::detail;

namespace {

constexpr unsigned join_deadline_s = 5;
constexpr int killed_by_alarm = 128 + SIGALRM;

// A group table in anonymous shared memory (zeroed: every slot free).
class shared_table {
  public:
    shared_table() {
        void* p = ::mmap(nullptr, sizeof(detail::group_table), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            throw std::runtime_error("mmap failed");
        table_ = new (p) detail::group_table;
    }
    ~shared_table() { ::munmap(table_, sizeof(detail::group_table)); }
    shared_table(const shared_table&) = delete;
    shared_table& operator=(const shared_table&) = delete;
    detail::group_table& operator*() const { return *table_; }
    detail::group_table* operator->() const { return table_; }

  private:
    detail::group_table* table_;
};

std::span<const std::byte> no_state() {
    return {};
}

// Joins `name` in a child process that an alarm kills after join_deadline_s;
// the child exits 0 when it joined and the group starts at `expected_next`.
int join_in_child(detail::group_table& table, const std::string& name, std::uint64_t start_at,
                  std::uint64_t expected_next) {
    return om::testing::in_child([&] {
        ::alarm(join_deadline_s);
        const auto member = detail::join_group(table, name, no_state(), [&] { return start_at; });
        detail::group_block b;
        detail::snapshot(*member.group, b);
        detail::leave_group(member);
        return b.next == expected_next;
    });
}

// A start callback that fails, as mapped_log's seek by time does on a damaged segment.
void join_throwing(detail::group_table& table, const std::string& name) {
    EXPECT_THROW(detail::join_group(table, name, no_state(),
                                    []() -> std::uint64_t {
                                        throw om::error(om::errc::corrupt, "damaged segment");
                                    }),
                 om::error);
}

// Another name whose probe starts at the same slot as `name`'s.
std::string same_home_as(const std::string& name) {
    const auto home = detail::fnv1a(name) % detail::shared_max_groups;
    for (int i = 0;; ++i) {
        std::string other = "other" + std::to_string(i);
        if (other != name && detail::fnv1a(other) % detail::shared_max_groups == home)
            return other;
    }
}

TEST(shared_groups, a_join_whose_start_throws_leaves_the_group_joinable) {
    shared_table table;
    // All in one child: the process that failed to create the group joins it again.
    const int code = om::testing::in_child([&] {
        ::alarm(join_deadline_s);
        join_throwing(*table, "g");
        const auto member = detail::join_group(*table, "g", no_state(), [] { return 7; });
        detail::group_block b;
        detail::snapshot(*member.group, b);
        return b.next == 7 && !::testing::Test::HasFailure();
    });
    EXPECT_EQ(code, 0) << (code == killed_by_alarm ? "the second join hung" : "");
}

TEST(shared_groups, a_join_whose_start_throws_leaves_the_group_joinable_from_another_process) {
    shared_table table;
    join_throwing(*table, "g");  // this process lives on while the others join
    const int code = join_in_child(*table, "g", 11, 11);
    EXPECT_EQ(code, 0) << (code == killed_by_alarm ? "another process's join hung" : "");
    // The group made by the child is the one that counts now.
    const int again = join_in_child(*table, "g", 99, 11);
    EXPECT_EQ(again, 0);
}

TEST(shared_groups, a_join_whose_start_throws_blocks_no_group_probing_past_its_slot) {
    shared_table table;
    const std::string other = same_home_as("g");
    join_throwing(*table, "g");
    const int code = join_in_child(*table, other, 3, 3);
    EXPECT_EQ(code, 0) << (code == killed_by_alarm ? "a join probing past the slot hung" : "");
}

TEST(shared_groups, a_slot_whose_creator_pid_was_reused_is_taken_over) {
    shared_table table;
    // A creator that died while setting the group up, whose pid now names
    // another live process (here: this one, with another start time).
    const auto self = detail::process_id::self();
    ASSERT_NE(self.start_time, 0u) << "no /proc/self/stat";
    const std::uint64_t stale_start = self.start_time + 12345;
    const auto home = detail::fnv1a("g") % detail::shared_max_groups;
    table->groups[home].status.store(detail::joining_status(self.pid, stale_start));
    const int code = join_in_child(*table, "g", 5, 5);
    EXPECT_EQ(code, 0) << (code == killed_by_alarm ? "the join waited for a reused pid" : "");
}

TEST(shared_groups, a_slot_of_a_dead_creator_is_taken_over) {
    shared_table table;
    const pid_t dead = om::testing::spawn([] { return true; });
    om::testing::wait_exit(dead);
    const auto home = detail::fnv1a("g") % detail::shared_max_groups;
    // As earlier versions mark it: the pid alone.
    table->groups[home].status.store((std::uint64_t(dead) << 2) | 1);
    EXPECT_EQ(join_in_child(*table, "g", 4, 4), 0);
}

}  // namespace
