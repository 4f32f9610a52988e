// A bounded set of label values (model names, model versions): the first `capacity - 1` distinct
// values each get their own index, every later one folds into the last index, named "other", so
// that a client sending random model names cannot grow the metric series without bound.
//
// Thread safety: index() and name() may be called from any thread at once. Lookups of known values
// take no lock (a linear scan over at most `capacity` published entries); adding a value takes a
// mutex, which happens at most `capacity - 1` times in the life of the table.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace mlsidecar::metrics {

class LabelTable {
 public:
  explicit LabelTable(std::size_t capacity);

  // Index of `value`, adding it while there is room; values past the cap map to other_index().
  std::size_t index(std::string_view value);
  std::size_t other_index() const { return capacity_ - 1; }
  std::size_t capacity() const { return capacity_; }
  // Number of indexes handed out so far, "other" included once used.
  std::size_t size() const;
  // Whether `index` has been handed out (the last one, "other", once a value folded into it).
  bool in_use(std::size_t index) const;
  // Label value of an index below capacity(); "other" for the last.
  std::string_view name(std::size_t index) const;

 private:
  const std::size_t capacity_;
  std::unique_ptr<std::string[]> names_;
  std::atomic<std::size_t> published_{0};  // entries [0, published_) of names_ are immutable
  std::atomic<bool> other_used_{false};
  std::mutex add_mutex_;  // guards appends to names_
};

}  // namespace mlsidecar::metrics
