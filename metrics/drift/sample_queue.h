// SampleQueue: the hand-off of sampled bodies from one I/O thread to the drift worker. A bounded
// single-producer single-consumer ring of slots; each slot owns a string whose capacity is
// reused, so after warm-up a push copies bytes without allocating. What the slots keep for reuse
// is bounded in total (kKeepBudget), not per slot: a ring slot sees every size of body in turn,
// and per-slot reuse alone let memory grow with the largest body each slot had ever held.
//
// Bounds: `capacity` slots (rounded up to a power of two) and `max_bytes` bytes of bodies in
// flight; a push that would exceed either fails at once (the caller counts it as dropped).
//
// Thread safety: try_push() from exactly one producer thread, drain() from one consumer at a time
// (the engine serialises consumers with its state mutex). Lock-free: the producer publishes a slot
// with a release store of head_, the consumer frees it with a release store of tail_. The byte
// budget is one relaxed atomic shared by the two sides.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/drift/direction.h"
#include "metrics/route.h"

namespace mlsidecar::drift {

struct Sample {
  Direction direction = Direction::input;
  Route route = Route::other;
  std::string body;
  std::size_t kept = 0;  // the capacity counted against the keep budget (consumer's bookkeeping)
};

class SampleQueue {
 public:
  SampleQueue(std::size_t capacity, std::size_t max_bytes)
      : mask_(std::bit_ceil(capacity < 1 ? std::size_t{1} : capacity) - 1),
        max_bytes_(max_bytes),
        slots_(std::make_unique<Sample[]>(mask_ + 1)) {}

  std::size_t capacity() const { return mask_ + 1; }

  // Producer side. False when the ring or the byte budget is full; never blocks.
  bool try_push(Direction direction, Route route, std::string_view body) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return false;
    }
    if (bytes_.load(std::memory_order_relaxed) + body.size() > max_bytes_) return false;
    Sample& slot = slots_[head & mask_];
    try {
      slot.body.assign(body.data(), body.size());
    } catch (...) {  // out of memory: drop the sample, never the request
      return false;
    }
    slot.direction = direction;
    slot.route = route;
    bytes_.fetch_add(body.size(), std::memory_order_relaxed);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side: calls fn(const Sample&) for every queued sample, oldest first, then frees the
  // slot. Returns the number of samples handled.
  template <typename Fn>
  std::size_t drain(Fn&& fn) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t head = head_.load(std::memory_order_acquire);
    std::size_t n = 0;
    for (; tail != head; ++tail, ++n) {
      Sample& slot = slots_[tail & mask_];
      fn(static_cast<const Sample&>(slot));
      const std::size_t size = slot.body.size();
      // Keep small buffers for reuse while the total kept stays within budget; give the others
      // back so that idle memory stays small.
      kept_bytes_ -= slot.kept;
      const std::size_t capacity = slot.body.capacity();
      if (capacity <= kKeepCapacity && kept_bytes_ + capacity <= kKeepBudget) {
        slot.kept = capacity;
        kept_bytes_ += capacity;
      } else {
        std::string().swap(slot.body);
        slot.kept = 0;
      }
      bytes_.fetch_sub(size, std::memory_order_relaxed);
      tail_.store(tail + 1, std::memory_order_release);
    }
    return n;
  }

 private:
  // A slot keeps a buffer of at most 16 KiB, and all slots together at most 1 MiB per producer:
  // beyond that a push allocates (tens of ns), which the soak test showed is worth the memory.
  static constexpr std::size_t kKeepCapacity = 16 * 1024;
  static constexpr std::size_t kKeepBudget = 1024 * 1024;
  const std::size_t mask_;
  const std::size_t max_bytes_;
  std::unique_ptr<Sample[]> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  std::size_t cached_tail_ = 0;                   // producer's last view of tail_
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the consumer
  std::size_t kept_bytes_ = 0;                    // consumer only, beside tail_
  alignas(64) std::atomic<std::size_t> bytes_{0};
};

}  // namespace mlsidecar::drift
