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

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

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

// --- removing groups ---------------------------------------------------------

// The number of slots that hold a group named `name`, active or being removed.
int live_slots_named(detail::group_table& table, const std::string& name) {
    int n = 0;
    for (auto& g : table.groups) {
        const std::uint64_t status = g.status.load();
        if ((status == detail::group_active || detail::is_removing(status)) &&
            detail::slot_name(g) == name)
            ++n;
    }
    return n;
}

TEST(shared_groups, a_group_with_a_live_member_in_another_process_is_not_removed) {
    shared_table table;
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t member = om::testing::spawn([&] {
        ::alarm(30);
        (void)detail::join_group(*table, "g", no_state(), [] { return 0; });
        char c = 1;
        (void)!::write(ready[1], &c, 1);
        ::pause();  // a live member until killed
        return true;
    });
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    try {
        detail::remove_group(*table, "g", "s");
        ADD_FAILURE() << "removed a group whose member lives";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::in_use);
        const std::string what = e.what();
        EXPECT_NE(what.find(std::to_string(member)), std::string::npos) << what;
        EXPECT_NE(what.find("stream 's'"), std::string::npos) << what;
    }
    EXPECT_EQ(live_slots_named(*table, "g"), 1);  // untouched
    // A member killed with SIGKILL never left; it holds nothing up.
    om::testing::kill_and_reap(member);
    EXPECT_TRUE(detail::remove_group(*table, "g", "s"));
    EXPECT_EQ(live_slots_named(*table, "g"), 0);
    EXPECT_EQ(detail::lowest_committed(*table), 0u);  // where the removed group had got to
    ::close(ready[0]);
    ::close(ready[1]);
}

TEST(shared_groups, a_removed_group_leaves_the_probe_of_others_intact) {
    shared_table table;
    const std::string other = same_home_as("g");
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 1; }));
    detail::leave_group(detail::join_group(*table, other, no_state(), [] { return 2; }));
    ASSERT_TRUE(detail::remove_group(*table, "g", "s"));
    EXPECT_FALSE(detail::remove_group(*table, "g", "s"));  // gone already
    EXPECT_EQ(detail::lowest_committed(*table), 2u);       // only `other` holds records
    // `other` probes past the removed slot and finds its own group, not a new one.
    const auto found = detail::join_group(*table, other, no_state(), [] { return 99; });
    detail::group_block b;
    detail::snapshot(*found.group, b);
    EXPECT_EQ(b.next, 2u);
    detail::leave_group(found);
    // "g" starts again, from where a new group starts, in its own slot.
    const auto again = detail::join_group(*table, "g", no_state(), [] { return 5; });
    detail::snapshot(*again.group, b);
    EXPECT_EQ(b.next, 5u);
    EXPECT_EQ(again.group, &table->groups[detail::fnv1a("g") % detail::shared_max_groups]);
    EXPECT_EQ(live_slots_named(*table, "g"), 1);
    EXPECT_EQ(live_slots_named(*table, other), 1);
    detail::leave_group(again);
}

// Once the last group is removed, producers may go on as they would before
// any group joined, from where the groups had got to: 0 (what an empty
// table says) would keep a ring whose tail passed its capacity full for good.
TEST(shared_groups, with_only_removed_groups_records_are_held_from_where_they_had_got_to) {
    shared_table table;
    EXPECT_EQ(detail::lowest_committed(*table), 0u);  // no group yet
    const std::string other = same_home_as("g");
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 40; }));
    detail::leave_group(detail::join_group(*table, other, no_state(), [] { return 30; }));
    ASSERT_TRUE(detail::remove_group(*table, "g", "s"));
    EXPECT_EQ(detail::lowest_committed(*table), 30u);  // a live group decides alone
    ASSERT_TRUE(detail::remove_group(*table, other, "s"));
    EXPECT_EQ(detail::lowest_committed(*table), 40u);
    // A group created again holds records from its own start.
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 35; }));
    EXPECT_EQ(detail::lowest_committed(*table), 35u);
}

TEST(shared_groups, a_group_whose_remover_died_stays) {
    shared_table table;
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 8; }));
    const pid_t dead = om::testing::spawn([] { return true; });
    om::testing::wait_exit(dead);
    auto& slot = table->groups[detail::fnv1a("g") % detail::shared_max_groups];
    slot.status.store(detail::joining_status(static_cast<std::uint32_t>(dead), 1) |
                      detail::group_removing_bit);
    EXPECT_EQ(join_in_child(*table, "g", 0, 8), 0);  // the group as it was
    EXPECT_EQ(slot.status.load(), detail::group_active);
}

// A creator that dies while creating a removed group again leaves its slot
// to that group's name only: another name taking it would be found there
// instead of its own group further on (a second group of that name).
TEST(shared_groups, a_removed_group_whose_creator_died_is_no_other_names_slot) {
    shared_table table;
    const std::string other = same_home_as("g");
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 1; }));
    detail::leave_group(detail::join_group(*table, other, no_state(), [] { return 2; }));
    ASSERT_TRUE(detail::remove_group(*table, "g", "s"));
    const pid_t dead = om::testing::spawn([] { return true; });
    om::testing::wait_exit(dead);
    auto& slot = table->groups[detail::fnv1a("g") % detail::shared_max_groups];
    slot.status.store(detail::joining_status(static_cast<std::uint32_t>(dead), 1));
    EXPECT_EQ(join_in_child(*table, other, 99, 2), 0);  // its own group, as it was
    EXPECT_EQ(live_slots_named(*table, other), 1);
    EXPECT_EQ(slot.status.load(), detail::group_removed);
    EXPECT_EQ(detail::lowest_committed(*table), 2u);
    EXPECT_EQ(join_in_child(*table, "g", 7, 7), 0);  // "g" starts again in its slot
    EXPECT_EQ(live_slots_named(*table, "g"), 1);
}

// A creator that died on a free slot before naming it leaves it free; one
// that named it leaves it to that name.
TEST(shared_groups, a_free_slot_whose_creator_died_goes_to_the_name_it_was_given) {
    shared_table table;
    const pid_t dead = om::testing::spawn([] { return true; });
    om::testing::wait_exit(dead);
    const auto home = detail::fnv1a("g") % detail::shared_max_groups;
    table->groups[home].status.store(detail::joining_status(static_cast<std::uint32_t>(dead), 1));
    EXPECT_EQ(join_in_child(*table, "g", 3, 3), 0);  // unnamed: anyone's
    EXPECT_EQ(detail::slot_name(table->groups[home]), "g");

    const std::string other = same_home_as("h");
    const auto h_home = detail::fnv1a("h") % detail::shared_max_groups;
    ASSERT_NE(h_home, home);
    auto& named = table->groups[h_home];
    std::memcpy(named.name, "h", 2);
    named.name_length = 1;
    named.status.store(detail::joining_status(static_cast<std::uint32_t>(dead), 1));
    EXPECT_EQ(join_in_child(*table, other, 4, 4), 0);  // probes past "h"'s slot
    EXPECT_EQ(named.status.load(), detail::group_removed);
    EXPECT_EQ(join_in_child(*table, "h", 5, 5), 0);
    EXPECT_EQ(named.status.load(), detail::group_active);
}

// A consumer killed while its group was being set up must not hold back what
// producers may reuse: the slot's stale `committed` (0 here) stops counting.
TEST(shared_groups, a_slot_whose_creator_died_holds_nothing_back) {
    shared_table table;
    detail::leave_group(detail::join_group(*table, "g", no_state(), [] { return 5; }));
    const pid_t dead = om::testing::spawn([] { return true; });
    om::testing::wait_exit(dead);
    const std::string other = same_home_as("g");
    auto& slot = table->groups[(detail::fnv1a(other) + 1) % detail::shared_max_groups];
    ASSERT_EQ(slot.status.load(), detail::group_free);
    slot.status.store(detail::joining_status(static_cast<std::uint32_t>(dead), 1));
    EXPECT_EQ(detail::lowest_committed(*table), 5u);
    EXPECT_EQ(slot.status.load(), detail::group_free);  // unnamed: free again
}

// A member that has taken its slot but not yet written its start time (the
// slot still holds its predecessor's) is judged by its pid, not as dead.
TEST(shared_groups, a_member_still_taking_its_slot_is_alive) {
    shared_table table;
    const auto member = detail::join_group(*table, "g", no_state(), [] { return 0; });
    auto& m = member.group->members[member.index];
    const std::uint64_t token = m.token.load();
    m.start_time.store(m.start_time.load() + 12345);  // a predecessor's
    m.token.store(token | detail::member_pending);
    EXPECT_TRUE(detail::member_alive(m, m.token.load()));
    try {
        detail::remove_group(*table, "g", "s");
        ADD_FAILURE() << "removed a group whose member was taking its slot";
    } catch (const om::error& e) {
        EXPECT_EQ(e.code(), om::errc::in_use);
    }
    EXPECT_EQ(m.token.load(), token | detail::member_pending);  // not freed under it
}

// Members joining and leaving in several processes while another removes
// the group over and over: never two groups of one name, and every join
// ends in a member of the one group.
TEST(shared_groups, joins_racing_removals_never_make_two_groups_of_one_name) {
    shared_table table;
    struct flags {
        std::atomic<int> go{0}, done{0};
    };
    void* shared =
        ::mmap(nullptr, sizeof(flags), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(shared, MAP_FAILED);
    auto* f = new (shared) flags;
    constexpr int joiners = 3, rounds = 20000;
    std::vector<pid_t> children;
    for (int j = 0; j < joiners; ++j)
        children.push_back(om::testing::spawn([&] {
            ::alarm(60);
            while (f->go.load() == 0) {
            }
            bool ok = true;
            for (int i = 0; i < rounds && ok; ++i) {
                const auto m = detail::join_group(*table, "g", no_state(), [] { return 0; });
                const std::uint64_t status = m.group->status.load();
                // A member of a group that is removed, or whose slot was freed
                // under it, is what the protocol rules out.
                ok = (status == detail::group_active || detail::is_removing(status)) &&
                     detail::group_member::owner_token(
                         m.index, m.group->members[m.index].token.load()) == m.token;
                detail::leave_group(m);
            }
            ++f->done;
            return ok;
        }));
    const pid_t remover = om::testing::spawn([&] {
        ::alarm(60);
        while (f->go.load() == 0) {
        }
        int removed = 0, refused = 0;
        while (f->done.load() < joiners) {
            try {
                removed += detail::remove_group(*table, "g", "s") ? 1 : 0;
            } catch (const om::error& e) {
                if (e.code() != om::errc::in_use)
                    return false;
                ++refused;
            }
            if (live_slots_named(*table, "g") > 1)
                return false;
        }
        std::printf("removed %d times, refused %d times (a member lived)\n", removed, refused);
        return removed > 0;  // the group went and came again under the joiners
    });
    f->go = 1;
    for (pid_t child : children)
        EXPECT_EQ(om::testing::wait_exit(child), 0);
    EXPECT_EQ(om::testing::wait_exit(remover), 0);
    ::munmap(shared, sizeof(flags));
    EXPECT_LE(live_slots_named(*table, "g"), 1);
    int named = 0;
    for (auto& g : table->groups)
        named += g.status.load() != detail::group_free && detail::slot_name(g) == "g" ? 1 : 0;
    EXPECT_EQ(named, 1);  // one slot for the name, whatever its state
}

}  // namespace
