#include "metrics/label_table.h"

#include <stdexcept>

namespace mlsidecar::metrics {

LabelTable::LabelTable(std::size_t capacity)
    : capacity_(capacity < 2 ? 2 : capacity), names_(new std::string[capacity_]) {
  names_[capacity_ - 1] = "other";
}

std::size_t LabelTable::index(std::string_view value) {
  std::size_t n = published_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (names_[i] == value) return i;
  }
  if (n < capacity_ - 1) {
    std::lock_guard lock(add_mutex_);
    n = published_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      if (names_[i] == value) return i;
    }
    if (n < capacity_ - 1) {
      names_[n] = std::string(value);
      published_.store(n + 1, std::memory_order_release);
      return n;
    }
  }
  other_used_.store(true, std::memory_order_relaxed);
  return other_index();
}

std::size_t LabelTable::size() const {
  return published_.load(std::memory_order_acquire) +
         (other_used_.load(std::memory_order_relaxed) ? 1 : 0);
}

bool LabelTable::in_use(std::size_t index) const {
  if (index == other_index()) return other_used_.load(std::memory_order_relaxed);
  return index < published_.load(std::memory_order_acquire);
}

std::string_view LabelTable::name(std::size_t index) const {
  if (index >= capacity_) throw std::out_of_range("LabelTable::name");
  return names_[index];
}

}  // namespace mlsidecar::metrics
