// ShadowQueue: the hand-off of shadow copies from one I/O thread to the shadow worker. A bounded
// single-producer single-consumer ring of slots, bounded too in the bytes it holds, as the drift
// tap's SampleQueue (metrics/drift/sample_queue.h) but moving buffers instead of copying them:
// try_push() swaps the connection's filled strings into a slot and takes back the slot's empty
// ones, pop() swaps them out into the worker's exchange. So a copy's bytes are written once (by
// the tap, as the request passes) and never again, and a connection keeps no buffer after it
// handed one over.
//
// Bounds: `capacity` slots (rounded up to a power of two) and `max_bytes` bytes of copies queued;
// a push that would exceed either fails at once and leaves the copy with the caller (who counts
// it as dropped).
//
// Thread safety: try_push() from exactly one producer thread, pop() from exactly one consumer
// thread. Lock-free: the producer publishes a slot with a release store of head_, the consumer
// frees it with a release store of tail_; bytes_ is a relaxed atomic shared by the two sides.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <string>

#include "metrics/route.h"

namespace mlsidecar {

// One request to repeat to the shadow, with the primary model's answer to compare against.
struct ShadowCopy {
  Route route = Route::other;
  // The request line and the fields the shadow gets (x-request-id, content-type, ...), each line
  // ending in CRLF; the worker adds Host, Content-Length, the marker and the blank line.
  std::string head;
  std::string request_body;
  // The primary model's answer: its status, seconds from the request's first byte written to the
  // model to the answer's last byte read from it, and the body up to --shadow-max-body
  // (`primary_truncated` when it was longer; none when `primary_encoded`: a Content-Encoding
  // such as gzip, which the shadow, never sent the client's Accept-Encoding, would not use).
  int primary_status = 0;
  double primary_seconds = 0;
  std::string primary_content_type;
  std::string primary_body;
  bool primary_truncated = false;
  bool primary_encoded = false;

  std::size_t bytes() const {
    return head.size() + request_body.size() + primary_content_type.size() + primary_body.size();
  }
  // Empties the strings and gives their memory back.
  void release() { *this = ShadowCopy{}; }
  void swap(ShadowCopy& other) noexcept {
    std::swap(route, other.route);
    head.swap(other.head);
    request_body.swap(other.request_body);
    std::swap(primary_status, other.primary_status);
    std::swap(primary_seconds, other.primary_seconds);
    primary_content_type.swap(other.primary_content_type);
    primary_body.swap(other.primary_body);
    std::swap(primary_truncated, other.primary_truncated);
    std::swap(primary_encoded, other.primary_encoded);
  }
};

class ShadowQueue {
 public:
  ShadowQueue(std::size_t capacity, std::size_t max_bytes)
      : mask_(std::bit_ceil(capacity < 1 ? std::size_t{1} : capacity) - 1),
        max_bytes_(max_bytes),
        slots_(std::make_unique<ShadowCopy[]>(mask_ + 1)) {}

  std::size_t capacity() const { return mask_ + 1; }
  std::size_t max_bytes() const { return max_bytes_; }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Producer side: moves `copy` into the queue, leaving it empty, and returns true; false (with
  // `copy` untouched) when the ring or the byte budget is full. Never blocks or allocates.
  bool try_push(ShadowCopy& copy) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return false;
    }
    const std::size_t size = copy.bytes();
    if (bytes_.load(std::memory_order_relaxed) + size > max_bytes_) return false;
    slots_[head & mask_].swap(copy);  // the slot's strings are empty (pop() emptied them)
    bytes_.fetch_add(size, std::memory_order_relaxed);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side: moves the oldest copy into `into` (whose previous contents are released) and
  // returns true; false when the queue is empty.
  bool pop(ShadowCopy& into) noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == cached_head_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail == cached_head_) return false;
    }
    into.release();
    ShadowCopy& slot = slots_[tail & mask_];
    slot.swap(into);
    bytes_.fetch_sub(into.bytes(), std::memory_order_relaxed);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

 private:
  const std::size_t mask_;
  const std::size_t max_bytes_;
  std::unique_ptr<ShadowCopy[]> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  std::size_t cached_tail_ = 0;                   // producer's last view of tail_
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the consumer
  std::size_t cached_head_ = 0;                   // consumer's last view of head_
  alignas(64) std::atomic<std::size_t> bytes_{0};
};

}  // namespace mlsidecar
