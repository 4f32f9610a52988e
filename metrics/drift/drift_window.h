// DriftWindow: the most recent `capacity` values of one feature, a fixed ring that overwrites the
// oldest value. Memory is allocated once, at construction.
//
// Example: capacity 3, push 1 2 3 4 -> values() holds {2, 3, 4} (in some order) and size() == 3;
// the fourth push reports 1 as evicted.
//
// Thread safety: none; owned by the drift worker (the engine's state mutex guards it).
#pragma once

#include <cstddef>
#include <vector>

namespace mlsidecar::drift {

template <typename T>
class DriftWindow {
 public:
  explicit DriftWindow(std::size_t capacity) : ring_(capacity < 1 ? 1 : capacity) {}

  // Appends `value`. When the window was full, the value it overwrote is stored in `evicted`
  // and the result is true (so that counts kept beside the window can follow it).
  bool push(T value, T& evicted) {
    // The slot written next comes round once per `capacity` values, long out of cache by then,
    // and a worker fills many windows in turn (one per feature), too many streams for the
    // hardware prefetcher: ask for the line a few slots ahead now, so that it is there when
    // the window reaches it (its old value is read back as the evicted one).
    std::size_t ahead = next_ + kPrefetchAhead;
    if (ahead >= ring_.size()) ahead -= ring_.size();
    if (ahead < ring_.size()) __builtin_prefetch(&ring_[ahead], 1);
    const bool full = size_ == ring_.size();
    if (full) evicted = ring_[next_];
    ring_[next_] = value;
    next_ = next_ + 1 == ring_.size() ? 0 : next_ + 1;
    if (!full) ++size_;
    return full;
  }
  void push(T value) {
    T evicted;
    push(value, evicted);
  }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return ring_.size(); }
  // Copies the values (in storage order; statistics do not depend on order).
  void copy_to(std::vector<T>& out) const {
    out.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(size_));
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (std::size_t i = 0; i < size_; ++i) fn(ring_[i]);
  }

 private:
  static constexpr std::size_t kPrefetchAhead = 128 / sizeof(T) + 1;  // two lines and a bit
  std::vector<T> ring_;
  std::size_t next_ = 0;
  std::size_t size_ = 0;
};

}  // namespace mlsidecar::drift
