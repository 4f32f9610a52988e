// SampleQueue: the hand-off of sampled bodies from one I/O thread to the drift worker. A bounded
// single-producer single-consumer ring of slots, and beside it a second ring going the other
// way that hands the worker's emptied body buffers back to the producer, so that after warm-up a
// push copies bytes into a recycled buffer without allocating, and the worker frees nothing. (A
// buffer kept per slot was reused only once per turn of the ring: with 16384 slots most pushes
// allocated and most drains freed, across threads.) What the spare ring keeps is bounded in
// total bytes (kKeepBudget) and per buffer (kKeepCapacity); larger buffers are freed.
//
// Bounds: `capacity` slots (rounded up to a power of two) and `max_bytes` bytes of bodies in
// flight; a push that would exceed either fails at once (the caller counts it as dropped).
//
// Thread safety: try_push() from exactly one producer thread, drain() from one consumer at a time
// (the engine serialises consumers with its state mutex). Lock-free: the producer publishes a slot
// with a release store of head_, the consumer frees it with a release store of tail_; the spare
// ring likewise with spare_head_ (consumer) and spare_tail_ (producer). The byte counts are
// relaxed atomics shared by the two sides.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/drift/direction.h"
#include "metrics/drift/payload.h"
#include "metrics/route.h"

namespace mlsidecar::drift {

struct Sample {
  Direction direction = Direction::input;
  Route route = Route::other;
  // automatic: the engine's --drift-format decides (by route); else the reader the producer chose
  // (the gRPC relay's protobuf messages).
  PayloadFormat format = PayloadFormat::automatic;
  std::string body;
};

class SampleQueue {
 public:
  SampleQueue(std::size_t capacity, std::size_t max_bytes)
      : mask_(std::bit_ceil(capacity < 1 ? std::size_t{1} : capacity) - 1),
        max_bytes_(max_bytes),
        slots_(std::make_unique<Sample[]>(mask_ + 1)),
        spares_(std::make_unique<std::string[]>(kSpares)) {}

  std::size_t capacity() const { return mask_ + 1; }
  // Bytes of the idle buffers waiting in the spare ring (at most 1 MiB).
  std::size_t spare_bytes() const { return spare_bytes_.load(std::memory_order_relaxed); }

  // Producer side. False when the ring or the byte budget is full; never blocks.
  bool try_push(Direction direction, Route route, std::string_view body,
                PayloadFormat format = PayloadFormat::automatic) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return false;
    }
    if (bytes_.load(std::memory_order_relaxed) + body.size() > max_bytes_) return false;
    Sample& slot = slots_[head & mask_];
    if (slot.body.capacity() < body.size()) take_spare(slot.body);
    try {
      slot.body.assign(body.data(), body.size());
    } catch (...) {  // out of memory: drop the sample, never the request
      return false;
    }
    slot.direction = direction;
    slot.route = route;
    slot.format = format;
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
      give_back(slot.body);
      bytes_.fetch_sub(size, std::memory_order_relaxed);
      tail_.store(tail + 1, std::memory_order_release);
    }
    return n;
  }

 private:
  // Spare buffers of at most 16 KiB each, at most 1 MiB in all per producer, at most kSpares of
  // them: beyond that a push allocates (tens of ns), which the soak test showed is worth the
  // memory.
  static constexpr std::size_t kKeepCapacity = 16 * 1024;
  static constexpr std::size_t kKeepBudget = 1024 * 1024;
  static constexpr std::size_t kSpares = 1024;  // a power of two

  // Producer: swaps a spare buffer (if any) into `into`, which holds none (drain() empties it).
  void take_spare(std::string& into) noexcept {
    const std::size_t tail = spare_tail_.load(std::memory_order_relaxed);
    if (tail == spare_cached_head_) {
      spare_cached_head_ = spare_head_.load(std::memory_order_acquire);
      if (tail == spare_cached_head_) return;
    }
    std::string& spare = spares_[tail & (kSpares - 1)];
    spare_bytes_.fetch_sub(spare.capacity(), std::memory_order_relaxed);
    into.swap(spare);
    spare_tail_.store(tail + 1, std::memory_order_release);
  }

  // Consumer: hands `body`'s buffer back to the producer when it is worth keeping and there is
  // room, else frees it; `body` is left empty either way.
  void give_back(std::string& body) noexcept {
    const std::size_t capacity = body.capacity();
    if (capacity > std::string().capacity() && capacity <= kKeepCapacity &&
        spare_bytes_.load(std::memory_order_relaxed) + capacity <= kKeepBudget) {
      const std::size_t head = spare_head_.load(std::memory_order_relaxed);
      if (head - spare_cached_tail_ >= kSpares) {
        spare_cached_tail_ = spare_tail_.load(std::memory_order_acquire);
      }
      if (head - spare_cached_tail_ < kSpares) {
        body.clear();
        spares_[head & (kSpares - 1)].swap(body);  // that position held an empty string
        spare_bytes_.fetch_add(capacity, std::memory_order_relaxed);
        spare_head_.store(head + 1, std::memory_order_release);
      }
    }
    if (body.capacity() > std::string().capacity()) std::string().swap(body);
    body.clear();
  }

  const std::size_t mask_;
  const std::size_t max_bytes_;
  std::unique_ptr<Sample[]> slots_;
  std::unique_ptr<std::string[]> spares_;         // kSpares positions, most of them empty strings
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  std::size_t cached_tail_ = 0;                   // producer's last view of tail_
  std::size_t spare_cached_head_ = 0;             // producer's last view of spare_head_
  alignas(64) std::atomic<std::size_t> spare_tail_{0};  // written by the producer
  alignas(64) std::atomic<std::size_t> tail_{0};        // written by the consumer
  std::size_t spare_cached_tail_ = 0;                   // consumer's last view of spare_tail_
  alignas(64) std::atomic<std::size_t> spare_head_{0};  // written by the consumer
  alignas(64) std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> spare_bytes_{0};
};

}  // namespace mlsidecar::drift
