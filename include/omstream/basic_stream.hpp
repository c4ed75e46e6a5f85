// omstream::stream<Storage, Emitter>: a named stream seen through one
// storage and one emitter, composed at compile time. Producers append;
// consumers receive windows through apply() (blocking) or poll() (one step).
// A handle serves one thread at a time: open one per consumer thread.
#pragma once

#include <omstream/clock.hpp>
#include <omstream/concepts.hpp>
#include <omstream/detail/claim.hpp>
#include <omstream/detail/emitter_identity.hpp>
#include <omstream/detail/fast_clock.hpp>
#include <omstream/detail/futex.hpp>
#include <omstream/detail/names.hpp>
#include <omstream/detail/spin_wait.hpp>
#include <omstream/emitter/count.hpp>
#include <omstream/error.hpp>
#include <omstream/metadata.hpp>
#include <omstream/options.hpp>
#include <omstream/window.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <ranges>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace omstream {

template <class Storage, class Emitter = count_window>
class stream {
    // The checks report what is missing themselves; these only stop here.
    static_assert(check_storage<Storage>(), "see the error above");
    static_assert(check_emitter<Emitter, typename Storage::record_type>(), "see the error above");

  public:
    using storage_type = Storage;
    using emitter_type = Emitter;
    using record_type = typename Storage::record_type;
    using clock_type = typename Emitter::clock_type;
    using time_point = typename clock_type::time_point;

    // Opens the stream `name`, creating it at first access (S1). Options are
    // named (`omstream::size = 5`) and may come in any order; one that
    // neither the storage nor the emitter takes does not compile.
    template <class... Options>
    static stream open(std::string_view name, option_value<Options>... options) {
        (detail::check_option_taken<Options, stream_options, accepted_options_t<Storage>,
                                    accepted_options_t<Emitter>>(),
         ...);
        const auto set = make_options(std::move(options)...);
        std::string group_name = set.template get<group_option>("default");
        // Group names follow the stream names' rules, checked before anything
        // is created; a storage that keeps them in fixed slots holds them shorter.
        if constexpr (requires { Storage::max_group_name_length; })
            detail::check_stream_name(group_name, "group", Storage::max_group_name_length);
        else
            detail::check_stream_name(group_name, "group");
        return stream(Storage::open(name, set), make_emitter(set), std::move(group_name),
                      set.template get<timeout_option>(std::chrono::nanoseconds(-1)));
    }

    stream(stream&&) noexcept = default;
    stream& operator=(stream&&) noexcept = default;

    // --- producing (S4, S13) -------------------------------------------------

    // Appends one record; waits while a bounded storage is full, at most the
    // `timeout` option (then errc::full).
    void append(const record_type& record) {
        if constexpr (stamps_late)
            (void)storage_.append_one(record, stamp_now{}, timeout_, false);
        else
            storage_.append(std::span<const record_type>(&record, 1), now_ns(), timeout_);
    }

    // Appends a batch with one claim and one publish: consumers see all of it
    // or none of it.
    template <std::ranges::forward_range Range>
    requires(!std::same_as<std::remove_cvref_t<Range>, record_type>) &&
        std::convertible_to<std::ranges::range_reference_t<const Range&>,
                            const record_type&> void append(const Range& records) {
        storage_.append(records, now_ns(), timeout_);
    }

    // Like append, but returns false at once instead of waiting for room.
    bool try_append(const record_type& record) {
        if constexpr (stamps_late)
            return storage_.append_one(record, stamp_now{}, std::chrono::nanoseconds::zero(), true);
        else
            return storage_.try_append(std::span<const record_type>(&record, 1), now_ns());
    }
    template <std::ranges::forward_range Range>
    requires(!std::same_as<std::remove_cvref_t<Range>, record_type>) &&
        std::convertible_to<std::ranges::range_reference_t<const Range&>,
                            const record_type&> bool try_append(const Range& records) {
        return storage_.try_append(records, now_ns());
    }

    // --- consuming (S5-S12) --------------------------------------------------

    // Delivers at most one window to `fn` and commits it when `fn` returns
    // (S9); never blocks. Returns whether it delivered one. If `fn` throws,
    // nothing is committed and the same records come again.
    template <class Fn>
    bool poll(Fn&& fn) {
        auto claim = next_window();
        if (!claim.ready)
            return false;
        deliver(claim, fn);
        return true;
    }

    // Delivers windows to `fn` until stop() or a stop request on `token`.
    // Sleeps while nothing is ready, until a record arrives or the emitter's
    // deadline passes (S11).
    template <class Fn>
    void apply(Fn&& fn, std::stop_token token = {}) {
        auto&& signal = storage_.consumer_signal();  // a reference, or a view of a shared word
        auto wake = [&signal] { signal.wake_always(); };
        std::stop_callback on_token(token, wake);
        const auto own = stop_.get_token();
        std::stop_callback on_stop(own, wake);
        auto stopped = [&] { return token.stop_requested() || own.stop_requested(); };

        while (!stopped()) {
            auto claim = next_window();
            if (!claim.ready) {
                const std::int64_t since = detail::realtime_ns();
                bool slept = false;
                for (;;) {
                    claim = spin(since, stopped);
                    if (claim.ready || stopped())
                        break;
                    const std::uint32_t seen = signal.epoch();
                    signal.enter();
                    if (!stopped())
                        claim = next_window();  // re-check now that producers will wake us
                    if (!claim.ready && !stopped()) {
                        signal.sleep(seen, sleep_limit());
                        slept = true;
                    }
                    signal.leave();
                    if (claim.ready || stopped())
                        break;
                }
                if (claim.ready && slept)
                    learn_spin(since, claim.window);
            }
            if (claim.ready)
                deliver(claim, fn);
        }
    }

    // Ends apply() on this handle, now and for good.
    void stop() noexcept { stop_.request_stop(); }

    // --- inspecting ----------------------------------------------------------

    // The records the storage holds, oldest first, each marked processed or not
    // for this handle's group (S10).
    std::vector<buffered_entry<record_type>> buffer() { return storage_.buffer(group_name_); }
    stream_metadata metadata() { return storage_.metadata(); }

    const std::string& name() const noexcept { return storage_.name(); }
    const std::string& group() const noexcept { return group_name_; }
    const Emitter& emitter() const noexcept { return emitter_; }
    Storage& storage() noexcept { return storage_; }

  private:
    using claim_type = typename Storage::claim_type;

    // How long apply() polls before it falls asleep. Falling asleep costs
    // the consumer a wake-up (tens of microseconds on a VM) and its
    // producers a system call, every window if windows come a little
    // slower than the polls last: a cliff in throughput. So after a sleep
    // apply() looks at when the window's last record came: if that was
    // within spin_max_ns of the start of the wait, it polls for twice as
    // long from then on; if later, half as long, down to spin_min_ns. An
    // idle consumer polls at most spin_max_ns once, then sleeps.
    static constexpr std::int64_t spin_min_ns = 4'000;
    static constexpr std::int64_t spin_max_ns = 50'000;

    // Polls until a window is ready, a stop, or spin_ns_ since `since`.
    template <class Stopped>
    claim_type spin(std::int64_t since, Stopped& stopped) {
        claim_type claim;
        detail::spin_until(since, spin_ns_, [&] {
            claim = next_window();
            return claim.ready || stopped();
        });
        return claim;
    }

    // After a sleep that ended with `w`, waited for since `since`.
    void learn_spin(std::int64_t since, const window<record_type>& w) {
        // Only the default clock stamps records on the clock `since` is read from.
        if constexpr (std::is_same_v<clock_type, std::chrono::system_clock>) {
            std::int64_t gap = spin_max_ns;  // an empty window: no record to tell
            if (const auto entries = w.entries(); !entries.empty()) {
                auto last = entries.begin();
                std::ranges::advance(last, static_cast<std::ptrdiff_t>(entries.size() - 1));
                gap = (*last).created_ns() - since;
            }
            spin_ns_ = gap < spin_max_ns ? std::clamp(2 * gap, spin_min_ns, spin_max_ns)
                                         : std::max(spin_ns_ / 2, spin_min_ns);
        }
    }

    stream(Storage storage, Emitter emitter, std::string group_name,
           std::chrono::nanoseconds wait_limit)
        : storage_(std::move(storage)),
          emitter_(std::move(emitter)),
          group_name_(std::move(group_name)),
          timeout_(wait_limit) {}

    template <class Options>
    static Emitter make_emitter(const Options& options) {
        if constexpr (requires { Emitter::from_options(options); }) {
            return Emitter::from_options(options);
        } else {
            return Emitter{};
        }
    }

    // Cheap for system_clock (detail/fast_clock.hpp): every append stamps a record.
    static std::int64_t now_ns() noexcept { return detail::now_ns<clock_type>(); }

    // A storage with append_one() takes the clock itself and reads it when it
    // suits it (after claiming room), rather than a time read beforehand.
    struct stamp_now {
        std::int64_t operator()() const noexcept { return now_ns(); }
    };
    static constexpr bool stamps_late = requires(Storage & s, const record_type& r) {
        s.append_one(r, stamp_now{}, std::chrono::nanoseconds{}, false);
    };

    // Consumers join their group at first use, so that producers never hold
    // records back for a group of their own.
    typename Storage::group_handle joined() {
        if (!joined_) {
            const auto initial = emitter_.start(clock_type::now());
            const auto bytes = std::as_bytes(std::span(&initial, 1));
            constexpr detail::emitter_identity identity = detail::identity_of<Emitter>();
            if constexpr (requires { storage_.join(group_name_, bytes, identity); })
                group_ = storage_.join(group_name_, bytes, identity);
            else  // a storage that keeps no emitter identity
                group_ = storage_.join(group_name_, bytes);
            joined_ = true;
        }
        return group_;
    }

    claim_type next_window() {
        const auto group = joined();
        const detail::lazy_now now(&stream::now_ns);
        deadline_ = time_point::max();
        auto pick = [&](const window<record_type>& pending,
                        std::span<std::byte, max_emitter_state> bytes) {
            typename Emitter::state_type state;
            std::memcpy(&state, bytes.data(), sizeof state);
            const decision<clock_type> d =
                emitter_.next(pending, state, detail::from_ns<clock_type>(now()));
            if (d.what == action::wait) {
                deadline_ = d.deadline;
                detail::picked p{d.what, d.count};
                p.more = std::max<std::size_t>(d.more, 1);
                if (d.deadline != time_point::max())
                    p.deadline_ns = detail::to_ns<clock_type>(d.deadline);
                return p;
            }
            std::memcpy(bytes.data(), &state, sizeof state);
            return detail::picked{d.what, d.count};
        };
        auto claim = storage_.claim(group, now, buffers_, pick);
        if (!claim.ready && claim.deadline_ns != std::numeric_limits<std::int64_t>::max())
            deadline_ = detail::from_ns<clock_type>(claim.deadline_ns);
        return claim;
    }

    template <class Fn>
    void deliver(const claim_type& claim, Fn& fn) {
        static_assert(std::is_invocable_v<Fn&, const window<record_type>&>,
                      "omstream: the callback must accept `const omstream::window<T>&`");
        try {
            std::invoke(fn, claim.window);
        } catch (...) {
            storage_.abandon(group_, claim.ticket);
            throw;
        }
        storage_.commit(group_, claim.ticket);
    }

    // How long to sleep when nothing is ready: until the emitter's deadline,
    // or until a record arrives. A manual clock does not move by itself, so
    // waiting on one only naps.
    std::chrono::nanoseconds sleep_limit() const {
        std::chrono::nanoseconds limit(-1);
        if constexpr (is_manual_clock_v<clock_type>) {
            limit = std::chrono::milliseconds(1);
        } else if (deadline_ != time_point::max()) {
            const auto left =
                std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_ - clock_type::now());
            limit = std::max(left, std::chrono::nanoseconds::zero());
        }
        // Shared storages wake up now and then to look after dead processes.
        if constexpr (requires { storage_.max_sleep(); }) {
            const std::chrono::nanoseconds storage_limit = storage_.max_sleep();
            if (storage_limit >= std::chrono::nanoseconds::zero() &&
                (limit < std::chrono::nanoseconds::zero() || storage_limit < limit))
                limit = storage_limit;
        }
        return limit;
    }

    Storage storage_;
    Emitter emitter_;
    std::string group_name_;
    std::chrono::nanoseconds timeout_;
    typename Storage::group_handle group_{};
    bool joined_ = false;
    detail::claim_buffers buffers_;
    time_point deadline_ = time_point::max();
    std::int64_t spin_ns_ = spin_min_ns;  // see learn_spin()
    std::stop_source stop_;
};

}  // namespace omstream
