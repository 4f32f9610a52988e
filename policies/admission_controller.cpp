#include "policies/admission_controller.h"

#include <algorithm>
#include <utility>

namespace mlsidecar::policies {

AdmissionController::AdmissionController(AdmissionParams params, Clock clock)
    : params_(params), clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point AdmissionController::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

bool AdmissionController::try_take_slot() {
  std::size_t current = in_flight_.load(std::memory_order_seq_cst);
  while (current < params_.capacity) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}

AdmissionResult AdmissionController::try_acquire(GrantCallback on_grant) {
  if (params_.capacity == 0) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return {Decision::admit, 0};
  }
  // Fast path: nobody waiting and a slot free. Skipped while others wait, to keep FIFO order.
  if (queued_.load(std::memory_order_relaxed) == 0) {
    std::size_t current = in_flight_.load(std::memory_order_relaxed);
    while (current < params_.capacity) {
      if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
        return {Decision::admit, 0};
      }
    }
  }

  std::lock_guard lock(mutex_);
  // Announce first, then look at the slots again: a release() that decremented before this
  // announcement is seen here; one that decrements after it sees queued_ != 0 and grants.
  queued_.fetch_add(1, std::memory_order_seq_cst);
  if (waiters_.empty() && try_take_slot()) {
    queued_.fetch_sub(1, std::memory_order_seq_cst);
    return {Decision::admit, 0};
  }
  if (waiters_.size() >= params_.queue_depth) {
    queued_.fetch_sub(1, std::memory_order_seq_cst);
    metrics_.record_shed(ShedReason::queue_full);
    return {Decision::reject, 0};
  }
  const Ticket ticket = next_ticket_++;
  waiters_.push_back(Waiter{ticket, now(), std::move(on_grant)});
  return {Decision::queue, ticket};
}

void AdmissionController::observe_wait_locked(const Waiter& w) {
  metrics_.observe_queue_wait(std::chrono::duration<double>(now() - w.enqueued_at).count());
}

void AdmissionController::release() {
  if (params_.capacity == 0) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  if (queued_.load(std::memory_order_seq_cst) != 0) {
    std::unique_lock lock(mutex_);
    if (!waiters_.empty()) {
      // Hand our slot over: in_flight_ stays as it is.
      Waiter w = std::move(waiters_.front());
      waiters_.pop_front();
      queued_.fetch_sub(1, std::memory_order_seq_cst);
      observe_wait_locked(w);
      lock.unlock();
      w.on_grant();
      return;
    }
    // Waiters deciding to queue hold the lock, so none can be missed here.
    in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  // Second chance: a waiter may have announced itself between our two reads of queued_.
  if (queued_.load(std::memory_order_seq_cst) != 0) {
    std::unique_lock lock(mutex_);
    if (!waiters_.empty() && try_take_slot()) {
      Waiter w = std::move(waiters_.front());
      waiters_.pop_front();
      queued_.fetch_sub(1, std::memory_order_seq_cst);
      observe_wait_locked(w);
      lock.unlock();
      w.on_grant();
    }
  }
}

bool AdmissionController::remove_locked(Ticket ticket, GrantCallback& dropped) {
  const auto it = std::lower_bound(waiters_.begin(), waiters_.end(), ticket,
                                   [](const Waiter& w, Ticket t) { return w.ticket < t; });
  if (it == waiters_.end() || it->ticket != ticket) return false;
  dropped = std::move(it->on_grant);
  waiters_.erase(it);
  queued_.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

bool AdmissionController::cancel(Ticket ticket) {
  GrantCallback dropped;  // destroyed after unlocking: its destructor may run user code
  std::lock_guard lock(mutex_);
  return remove_locked(ticket, dropped);
}

bool AdmissionController::expire(Ticket ticket) {
  GrantCallback dropped;
  std::lock_guard lock(mutex_);
  if (!remove_locked(ticket, dropped)) return false;
  metrics_.record_shed(ShedReason::queue_timeout);
  return true;
}

std::vector<prometheus::MetricFamily> AdmissionController::Collect() const {
  return metrics_.collect(queued());
}

}  // namespace mlsidecar::policies
