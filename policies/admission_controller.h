// AdmissionController: the sidecar's breaker in front of the model, as Knative's queue-proxy has
// it. At most `capacity` requests are in flight to the model; up to `queue_depth` more wait in FIFO
// order; beyond that a request is rejected at once (the proxy answers 503 + Retry-After).
//
//   AdmissionController ac({.capacity = 2, .queue_depth = 1});
//   ac.try_acquire(cb)  -> admit   (1 in flight)
//   ac.try_acquire(cb)  -> admit   (2 in flight, full)
//   ac.try_acquire(cb2) -> queue   (ticket 1; cb2 runs later)
//   ac.try_acquire(cb)  -> reject  (queue full; counted as shed{reason="queue_full"})
//   ac.release()        -> the slot goes to ticket 1: cb2() runs on this thread, in_flight stays 2
//
// The waiter is a GrantCallback (small move-only callable) that the controller stores and invokes
// exactly once, on the thread that freed the slot and after the controller's lock is dropped,
// unless cancel()/expire() removed it first. It must not block: a proxy posts to its own
// io_context from it. Once granted, the waiter owns a slot and must release() it (an
// AdmissionPermit does that), even when its client has gone meanwhile.
//
// The controller owns no timers: the caller arms its own queue timeout (params.queue_timeout is
// carried for it) and calls expire(ticket) when it fires, or cancel(ticket) when its client leaves.
//
// Thread safety: every method may be called from any thread at once. The fast path (a free slot,
// or capacity 0 = unlimited) is one atomic compare-exchange (a fetch_add when unlimited) and takes
// no lock; the mutex is taken only when the limit is reached: to queue, to cancel, or to hand a
// freed slot to a waiter. The mutex guards `waiters_`; `queued_` is also written only under it.
//
// Why the model never sees more than `capacity`: a slot is taken only by a compare-exchange that
// checks `in_flight_ < capacity`, and a released slot is either handed to a waiter without ever
// being decremented, or decremented. A release that decrements and a request that announces itself
// as a waiter (queued_ += 1) then re-reads in_flight_ are both sequentially consistent (Dekker's
// pattern), so one of the two always sees the other: no waiter is left behind a free slot.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "policies/admission_metrics.h"
#include "policies/grant_callback.h"

namespace mlsidecar::policies {

struct AdmissionParams {
  std::size_t capacity = 0;  // 0 = unlimited
  std::size_t queue_depth = 0;
  std::chrono::nanoseconds queue_timeout{};  // for the caller's timer; the controller arms none
};

enum class Decision { admit, queue, reject };

// Identifies a queued waiter; 0 means "not queued".
using Ticket = std::uint64_t;

struct AdmissionResult {
  Decision decision = Decision::reject;
  Ticket ticket = 0;  // set when decision == queue
};

class AdmissionController : public prometheus::Collectable {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` is read only on the slow path (queueing and granting) to measure the queue wait.
  explicit AdmissionController(AdmissionParams params, Clock clock = {});

  // Called for each request. admit: the caller holds a slot now and must release() it.
  // queue: `on_grant` was enqueued and will run once a slot is free (see the class comment).
  // reject: the queue was full; counted as shed{reason="queue_full"}, `on_grant` dropped.
  AdmissionResult try_acquire(GrantCallback on_grant);

  // Frees a slot, or hands it to the oldest waiter and runs its callback on this thread.
  void release();

  // Removes a queued waiter (client left): true if removed, false if it was already granted (its
  // callback has run or is about to run, and it owns a slot) or the ticket is unknown.
  bool cancel(Ticket ticket);
  // As cancel(), for the caller's queue timeout; a removal counts as shed{reason="queue_timeout"}.
  bool expire(Ticket ticket);
  // For sheds decided outside the controller (draining).
  void record_shed(ShedReason reason) { metrics_.record_shed(reason); }

  std::size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  std::size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  const AdmissionParams& params() const { return params_; }
  bool unlimited() const { return params_.capacity == 0; }
  const AdmissionMetrics& metrics() const { return metrics_; }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Waiter {
    Ticket ticket;
    std::chrono::steady_clock::time_point enqueued_at;
    GrantCallback on_grant;
  };

  bool try_take_slot();
  bool remove_locked(Ticket ticket, GrantCallback& dropped);
  std::chrono::steady_clock::time_point now() const;
  void observe_wait_locked(const Waiter& w);

  const AdmissionParams params_;
  const Clock clock_;
  AdmissionMetrics metrics_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> queued_{0};  // waiters, plus one while a request is deciding to queue

  mutable std::mutex mutex_;
  std::deque<Waiter> waiters_;  // guarded by mutex_; tickets ascending (FIFO)
  Ticket next_ticket_ = 1;      // guarded by mutex_
};

// A slot held by one request: move-only, releases the slot when destroyed.
class AdmissionPermit {
 public:
  AdmissionPermit() = default;
  // Takes ownership of a slot the caller already holds (after admit, or in its grant callback).
  static AdmissionPermit adopt(AdmissionController& controller) {
    return AdmissionPermit(&controller);
  }
  AdmissionPermit(AdmissionPermit&& other) noexcept : controller_(other.controller_) {
    other.controller_ = nullptr;
  }
  AdmissionPermit& operator=(AdmissionPermit&& other) noexcept {
    if (this != &other) {
      reset();
      controller_ = other.controller_;
      other.controller_ = nullptr;
    }
    return *this;
  }
  AdmissionPermit(const AdmissionPermit&) = delete;
  AdmissionPermit& operator=(const AdmissionPermit&) = delete;
  ~AdmissionPermit() { reset(); }

  explicit operator bool() const { return controller_ != nullptr; }
  void reset() {
    if (controller_ != nullptr) {
      controller_->release();
      controller_ = nullptr;
    }
  }

 private:
  explicit AdmissionPermit(AdmissionController* c) : controller_(c) {}
  AdmissionController* controller_ = nullptr;
};

}  // namespace mlsidecar::policies
