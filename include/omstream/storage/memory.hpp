// memory<T>: a stream held in the memory of one process (DESIGN.md §3), for
// tests and pipelines inside one program. Named streams live in a
// process-wide registry until remove(). Records are framed exactly as in the
// shared storages, in chunks that never move, so windows are views into them.
// Producers take a spin lock only to claim space and sequence numbers, then
// write and publish outside it; consumers never block producers.
#pragma once

#include <omstream/clock.hpp>
#include <omstream/concepts.hpp>
#include <omstream/detail/biased_lock.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/memory_log.hpp>
#include <omstream/detail/names.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/options.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace omstream {

namespace detail {
// One registry for every record type: a name is one stream, whatever T, so
// that opening it with another type is caught (S3).
struct memory_registry {
    struct entry {
        std::shared_ptr<void> log;
        std::uint64_t fingerprint;
        std::string layout;
        bool (*remove_group)(void* log, std::string_view group);  // knows the log's type
    };
    std::mutex mutex;
    std::map<std::string, entry, std::less<>> streams;

    static memory_registry& instance() {
        static memory_registry registry;
        return registry;
    }
};
}  // namespace detail

template <class T>
class memory {
    static_assert(check_record<T>());

  public:
    using storage_concept = storage_tag;
    using record_type = T;
    using group_handle = detail::memory_group*;
    using claim_type = detail::log_claim<T>;
    using accepted_options =
        boost::hana::tuple<boost::hana::type<capacity_option>, boost::hana::type<keep_option>,
                           boost::hana::type<max_age_option>>;
    static constexpr std::string_view kind = "stream.memory";

    // Creates the stream at first access, attaches afterwards (S1 names).
    // Options are applied by the call that creates it.
    template <class Options>
    static memory open(std::string_view name, const Options& options) {
        detail::check_stream_name(name);
        detail::memory_log_settings settings;
        settings.capacity = options.template get<capacity_option>(0);
        settings.keep = options.template get<keep_option>(false);
        settings.max_age = options.template get<max_age_option>(std::chrono::nanoseconds::zero());
        settings.max_record_size =
            options.template get<max_record_size_option>(detail::default_max_record_size);
        if (settings.max_record_size == 0 || settings.max_record_size > detail::max_payload)
            throw error(errc::invalid_option, "max_record_size must be between 1 and " +
                                                  std::to_string(detail::max_payload) + " bytes");
        if (settings.max_age < std::chrono::nanoseconds::zero())
            throw error(errc::invalid_option, "max_age must not be negative");

        auto& reg = registry();
        std::lock_guard lock(reg.mutex);
        auto it = reg.streams.find(std::string(name));
        if (it != reg.streams.end()) {
            const auto& found = it->second;
            if (found.fingerprint != record_traits<T>::fingerprint())
                throw error(errc::type_mismatch,
                            "stream '" + std::string(name) + "' holds records of type " +
                                found.layout + ", not " + record_traits<T>::layout() +
                                "; open it with the type it was created with, or use another name");
            return memory(std::static_pointer_cast<detail::memory_log<T>>(found.log));
        }
        auto log = std::make_shared<detail::memory_log<T>>(std::string(name), settings);
        reg.streams.emplace(
            std::string(name),
            detail::memory_registry::entry{
                log, record_traits<T>::fingerprint(), record_traits<T>::layout(),
                [](void* erased, std::string_view group_name) {
                    return static_cast<detail::memory_log<T>*>(erased)->remove_group(group_name);
                }});
        return memory(std::move(log));
    }

    // Forgets the named stream; handles still open keep it alive until closed.
    static bool remove(std::string_view name) {
        auto& reg = registry();
        std::lock_guard lock(reg.mutex);
        return reg.streams.erase(std::string(name)) != 0;
    }

    // Removes the consumer group `group_name` of the stream `name` (any record
    // type): it holds no records back any more (producers waiting for it go
    // on), leaves metadata, and a later consumer of that name starts a new
    // group. Refused with errc::in_use while a handle consumes in it.
    // Returns false when there is no such stream or group.
    static bool remove_group(std::string_view name, std::string_view group_name) {
        detail::check_stream_name(name);
        detail::check_stream_name(group_name, "group");
        std::shared_ptr<void> log;
        bool (*remove)(void*, std::string_view) = nullptr;
        {
            auto& reg = registry();
            std::lock_guard lock(reg.mutex);
            auto it = reg.streams.find(name);
            if (it == reg.streams.end())
                return false;
            log = it->second.log;
            remove = it->second.remove_group;
        }
        return remove(log.get(), group_name);
    }

    // Names of the memory streams of this process.
    static std::vector<std::string> list() {
        auto& reg = registry();
        std::lock_guard lock(reg.mutex);
        std::vector<std::string> names;
        for (const auto& [name, entry] : reg.streams)
            names.push_back(name);
        return names;
    }

    template <class Range>
    void append(const Range& records, std::int64_t created_ns,
                std::chrono::nanoseconds wait_limit = std::chrono::nanoseconds(-1)) {
        log_->append(records, created_ns, wait_limit, false, producer_.owner.get());
    }
    void append(const T* first, std::size_t n, std::int64_t created_ns) {
        append(std::span<const T>(first, n), created_ns);
    }
    // One record, with its `created` time from `stamp()`, read as late as the
    // storage can (memory_log::try_append_one); `try_only`: false instead of
    // waiting for room.
    template <class Stamp>
    bool append_one(const T& record, Stamp&& stamp, std::chrono::nanoseconds wait_limit,
                    bool try_only) {
        if constexpr (record_traits<T>::fixed_size) {
            if (log_->try_append_one(record, stamp, producer_.owner.get()))
                return true;
        }
        return log_->append(std::span<const T>(&record, 1), stamp(), wait_limit, try_only,
                            producer_.owner.get());
    }

    template <class Range>
    bool try_append(const Range& records, std::int64_t created_ns) {
        return log_->append(records, created_ns, std::chrono::nanoseconds::zero(), true,
                            producer_.owner.get());
    }
    bool try_append(const T* first, std::size_t n, std::int64_t created_ns) {
        return try_append(std::span<const T>(first, n), created_ns);
    }

    group_handle join(std::string_view group_name, std::span<const std::byte> initial_state,
                      const detail::emitter_identity& emitter = {}) {
        joined_ = std::shared_ptr<detail::memory_group>(
            log_->join(group_name, initial_state, emitter), leave{log_});
        return joined_.get();
    }
    template <class Pick>
    claim_type claim(group_handle member, const detail::lazy_now& now,
                     detail::claim_buffers& buffers, Pick&& pick) {
        return log_->claim(member, now, buffers, pick, idle_);
    }
    void commit(group_handle member, std::uint64_t ticket) { log_->finish(member, ticket, true); }
    void abandon(group_handle member, std::uint64_t ticket) { log_->finish(member, ticket, false); }

    detail::process_wait_word consumer_signal() noexcept { return log_->consumer_signal(); }
    std::vector<buffered_entry<T>> buffer(std::string_view group_name) {
        return log_->buffer(group_name);
    }
    stream_metadata metadata() { return log_->metadata(); }
    const std::string& name() const noexcept { return log_->name(); }

  private:
    explicit memory(std::shared_ptr<detail::memory_log<T>> log)
        : log_(std::move(log)), producer_{log_} {}

    static detail::memory_registry& registry() { return detail::memory_registry::instance(); }

    // Gives the handle's membership up when its last copy closes
    // (remove_group()); it holds the log, so that the log outlives the
    // membership in any order of destruction or move.
    struct leave {
        std::shared_ptr<detail::memory_log<T>> log;
        void operator()(detail::memory_group* g) const noexcept { log->leave(g); }
    };

    // This handle's owner of the producers' lock (detail/biased_lock.hpp):
    // a copy of the handle is another handle, with an owner of its own.
    struct producer_owner {
        std::shared_ptr<detail::memory_log<T>> log;
        std::unique_ptr<detail::biased_lock::owner> owner =
            std::make_unique<detail::biased_lock::owner>();

        explicit producer_owner(std::shared_ptr<detail::memory_log<T>> l) : log(std::move(l)) {}
        producer_owner(const producer_owner& other) : producer_owner(other.log) {}
        producer_owner(producer_owner&&) noexcept = default;
        producer_owner& operator=(const producer_owner& other) {
            if (this != &other) {
                forget();
                log = other.log;
                owner = std::make_unique<detail::biased_lock::owner>();
            }
            return *this;
        }
        producer_owner& operator=(producer_owner&& other) noexcept {
            if (this != &other) {
                forget();
                log = std::move(other.log);
                owner = std::move(other.owner);
            }
            return *this;
        }
        ~producer_owner() { forget(); }
        void forget() noexcept {
            if (owner != nullptr && log != nullptr)
                log->forget_producer(*owner);
        }
    };

    std::shared_ptr<detail::memory_log<T>> log_;
    producer_owner producer_;
    detail::memory_idle idle_;  // this handle's, not the group's
    std::shared_ptr<detail::memory_group> joined_;
};

}  // namespace omstream
