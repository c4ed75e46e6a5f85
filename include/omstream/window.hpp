// omstream::window<T>: the records of one window, as a view into storage
// (S12), valid during the callback that receives it. It models
// std::ranges::view and range-v3's view; with fixed-size records it is a
// random-access range. entries() gives the same records with their sequence
// numbers and creation times.
#pragma once

#include <omstream/detail/frame.hpp>
#include <omstream/record.hpp>

#include <range/v3/range/concepts.hpp>

#include <chrono>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <span>

namespace omstream {

// One record with its identity (S4). data() decodes it (zero-copy for
// trivially copyable types).
template <class T>
class entry_ref {
  public:
    entry_ref() = default;
    explicit entry_ref(const std::byte* frame) noexcept : frame_(frame) {}
    std::uint64_t seq() const noexcept { return header().seq; }
    std::int64_t created_ns() const noexcept { return header().created; }
    template <class Clock = std::chrono::system_clock>
    typename Clock::time_point created() const noexcept {
        return typename Clock::time_point(std::chrono::duration_cast<typename Clock::duration>(
            std::chrono::nanoseconds(created_ns())));
    }
    decltype(auto) data() const { return codec<T>::decode(detail::payload_of(frame_)); }

  private:
    const detail::frame_header& header() const noexcept { return detail::header_of(frame_); }
    const std::byte* frame_ = nullptr;
};

namespace detail {

enum class window_projection { records, entries };

// Walks the frames of a list of spans. Random access when every frame has
// the same size, which holds for fixed-size records.
//
// The iterator is a member class (ADL barrier): were it a specialization
// window_iterator<T, P>, T's namespace and hidden friends would take part in
// argument-dependent lookup on it. With T = nlohmann::json that finds json's
// friend swap(json&, json&), whose viability check instantiates json's
// converting constructor from the iterator, which asks (via to_json for
// std::filesystem::path) iterator_traits of the iterator, which asks whether
// it is swappable: the swappable<iterator> check then depends on itself and
// GCC rejects every use of the window as a range.
template <class T, window_projection P>
struct window_iterator_barrier {
    class type;
};

template <class T, window_projection P>
using window_iterator = typename window_iterator_barrier<T, P>::type;

template <class T, window_projection P>
class window_iterator_barrier<T, P>::type {
    static constexpr bool fixed = record_traits<T>::fixed_size;
    static constexpr std::size_t stride = fixed ? frame_size(codec<T>::fixed_size) : 0;

  public:
    using difference_type = std::ptrdiff_t;
    using value_type = std::conditional_t<P == window_projection::records, T, entry_ref<T>>;
    using iterator_concept =
        std::conditional_t<fixed, std::random_access_iterator_tag, std::forward_iterator_tag>;
    using iterator_category = std::input_iterator_tag;  // references may be prvalues

    type() = default;
    type(const frame_span* spans, const frame_span* spans_end, const frame_span* span,
         std::size_t index) noexcept
        : spans_(spans), span_(span), spans_end_(spans_end), index_(index) {
        settle();
    }

    decltype(auto) operator*() const {
        if constexpr (P == window_projection::records) {
            return codec<T>::decode(payload_of(pos_));
        } else {
            return entry_ref<T>(pos_);
        }
    }

    // Zero-copy records only: others are decoded into a temporary.
    const T* operator->() const requires(P == window_projection::records && codec<T>::zero_copy) {
        return &codec<T>::decode(payload_of(pos_));
    }

    type& operator++() noexcept {
        ++index_;
        pos_ += fixed ? stride : next_offset();
        if (pos_ == span_->last) {
            ++span_;
            pos_ = span_ != spans_end_ ? span_->first : nullptr;
        }
        return *this;
    }
    type operator++(int) noexcept {
        auto old = *this;
        ++*this;
        return old;
    }

    friend bool operator==(const type& a, const type& b) noexcept { return a.index_ == b.index_; }

    // --- random access, fixed-size records only ---
    type& operator--() noexcept requires fixed { return *this -= 1; }
    type operator--(int) noexcept requires fixed {
        auto old = *this;
        *this -= 1;
        return old;
    }
    type& operator+=(difference_type n) noexcept requires fixed {
        index_ = static_cast<std::size_t>(static_cast<difference_type>(index_) + n);
        while (span_ != spans_end_ && index_ >= span_->first_index + span_->count)
            ++span_;
        while (span_ != spans_ && (span_ == spans_end_ || span_->first_index > index_) &&
               index_ < span_[-1].first_index + span_[-1].count) {
            --span_;
        }
        settle();
        return *this;
    }
    type& operator-=(difference_type n) noexcept requires fixed { return *this += -n; }
    friend type operator+(type it, difference_type n) noexcept requires fixed { return it += n; }
    friend type operator+(difference_type n, type it) noexcept requires fixed { return it += n; }
    friend type operator-(type it, difference_type n) noexcept requires fixed { return it -= n; }
    friend difference_type operator-(const type& a, const type& b) noexcept requires fixed {
        return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    decltype(auto) operator[](difference_type n) const requires fixed { return *(*this + n); }
    friend auto operator<=>(const type& a, const type& b) noexcept requires fixed {
        return a.index_ <=> b.index_;
    }

  private:
    std::size_t next_offset() const noexcept {
        return span_->stride != 0 ? span_->stride : stride_of(pos_);
    }

    // Point pos_ at the frame of index_ within span_ (or nowhere at the end).
    void settle() noexcept {
        if (span_ == spans_end_) {
            pos_ = nullptr;
            return;
        }
        if constexpr (fixed) {
            pos_ = span_->first + (index_ - span_->first_index) * stride;
        } else {
            pos_ = span_->first;
            for (std::size_t i = span_->first_index; i < index_; ++i)
                pos_ += next_offset();
        }
    }

    const frame_span* spans_ = nullptr;
    const frame_span* span_ = nullptr;
    const frame_span* spans_end_ = nullptr;
    const std::byte* pos_ = nullptr;
    std::size_t index_ = 0;
};

template <class T, window_projection P>
class frame_view : public std::ranges::view_interface<frame_view<T, P>> {
  public:
    using iterator = window_iterator<T, P>;
    frame_view() = default;
    frame_view(std::span<const frame_span> spans, std::size_t count) noexcept
        : spans_(spans), count_(count) {}
    iterator begin() const noexcept {
        return {spans_.data(), spans_.data() + spans_.size(), spans_.data(), 0};
    }
    iterator end() const noexcept {
        const auto* last = spans_.data() + spans_.size();
        return {spans_.data(), last, last, count_};
    }
    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }

  protected:
    std::span<const frame_span> spans_{};
    std::size_t count_ = 0;
};

}  // namespace detail

template <class T>
using entries_view = detail::frame_view<T, detail::window_projection::entries>;

// A window of records. Cheap to copy (it refers to storage, it owns nothing).
template <class T>
class window : public detail::frame_view<T, detail::window_projection::records> {
    using base = detail::frame_view<T, detail::window_projection::records>;

  public:
    window() = default;
    window(std::span<const detail::frame_span> spans, std::size_t count, std::int64_t created_ns,
           std::uint64_t first_seq, std::uint64_t lost = 0) noexcept
        : base(spans, count), created_ns_(created_ns), first_seq_(first_seq), lost_(lost) {}

    // When the window was emitted (S6: for time windows, its end had passed).
    std::int64_t created_ns() const noexcept { return created_ns_; }
    template <class Clock = std::chrono::system_clock>
    typename Clock::time_point created() const noexcept {
        return typename Clock::time_point(std::chrono::duration_cast<typename Clock::duration>(
            std::chrono::nanoseconds(created_ns_)));
    }
    // The records again, each with its sequence number and creation time.
    entries_view<T> entries() const noexcept { return {this->spans_, this->count_}; }
    // Sequence number of the first record (of the next one, if empty).
    std::uint64_t first_seq() const noexcept { return first_seq_; }
    // Records skipped by a lossy storage just before this window.
    std::uint64_t lost() const noexcept { return lost_; }

  private:
    std::int64_t created_ns_ = 0;
    std::uint64_t first_seq_ = 0;
    std::uint64_t lost_ = 0;
};

}  // namespace omstream

// Opt into range-v3's view concept (view_interface only tells std::ranges).
template <class T>
inline constexpr bool ranges::enable_view<omstream::window<T>> = true;
template <class T, omstream::detail::window_projection P>
inline constexpr bool ranges::enable_view<omstream::detail::frame_view<T, P>> = true;
