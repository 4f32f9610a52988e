// Part 6 of the request chain (request_chain.h): shadow traffic. ShadowTraffic owns what the
// feature needs, built once from the configuration: per I/O thread a ShadowGate (the decision
// and the requests/s bucket) and a ShadowQueue to the one ShadowWorker, and the
// ShadowAnalysis that compares each pair and publishes mlsidecar_shadow_*. ShadowTap is how the
// request path sees it: an object that does nothing when --shadow-upstream is empty.
//
// Memory (docs/reliability.md, "Shadow traffic"): on each I/O thread, the copies being gathered
// (connections reading a copied request and the primary's answer) hold at most
// gather_bytes(max_body) together: reserve() refuses beyond, and the copy is dropped (`memory`);
// each queue holds at most kQueueSlots copies and queue_bytes(max_body) bytes; the worker at most
// kMaxInFlight exchanges, each a copy and an answer of at most max_body.
//
// Thread safety: decide(), reserve(), release(), refund(), hand_over() and count_dropped() from
// the I/O thread `thread` only (its shard: plain counters, no atomics); start() and stop() from
// the thread that owns the chain, stop() after the I/O threads have ended.
#pragma once

#include <prometheus/collectable.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metrics/route.h"
#include "sidecar/config.h"
#include "sidecar/shadow_gate.h"
#include "sidecar/shadow_queue.h"

namespace mlsidecar {

namespace shadow {
class ShadowAnalysis;
enum class DropReason : std::uint8_t;
}  // namespace shadow
class ShadowWorker;

class ShadowTraffic {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kQueueSlots = 64;
  static constexpr std::size_t kMaxInFlight = 8;
  // Bytes one I/O thread's queue may hold: 8 MiB, and at least two copies of the largest size
  // (a request and a primary answer of max_body each).
  static std::size_t queue_bytes(std::size_t max_body) {
    const std::size_t two_copies = 4 * max_body + 64 * 1024;
    return two_copies > (8u << 20) ? two_copies : (8u << 20);
  }
  // Bytes the copies being gathered on one I/O thread may hold together: 16 MiB, and at least one
  // copy of the largest size.
  static std::size_t gather_bytes(std::size_t max_body) {
    const std::size_t one_copy = 2 * max_body + 64 * 1024;
    return one_copy > (16u << 20) ? one_copy : (16u << 20);
  }

  // Throws ConfigError for an unreadable --drift-profile (the analysis reads it too).
  explicit ShadowTraffic(const Config& config);
  ~ShadowTraffic();
  ShadowTraffic(const ShadowTraffic&) = delete;
  ShadowTraffic& operator=(const ShadowTraffic&) = delete;

  void start();
  void stop();

  double fraction() const { return fraction_; }
  std::size_t max_body() const { return max_body_; }
  std::shared_ptr<prometheus::Collectable> collectable() const;
  // The shadow's drift (ShadowAnalysis::drift_json()), for /drift; any thread.
  std::optional<std::string> drift_json() const;
  // The last requests the versions disagreed on (ShadowAnalysis::disagreements_json()), for
  // /shadow; any thread.
  std::string disagreements_json() const;

  // The decision for one request whose head has arrived; too_large and rate_limited are counted.
  ShadowDecision decide(std::size_t thread, Route route, bool drawn,
                        std::optional<std::uint64_t> content_length, Clock::time_point now);
  // Counts `bytes` more of copies being gathered on `thread`; false (nothing counted) when that
  // would pass gather_bytes().
  bool reserve(std::size_t thread, std::size_t bytes) {
    Shard& shard = *shards_[thread];
    if (bytes > gather_limit_ - shard.gathering) return false;
    shard.gathering += bytes;
    return true;
  }
  void release(std::size_t thread, std::size_t bytes) { shards_[thread]->gathering -= bytes; }
  std::size_t gathering(std::size_t thread) const { return shards_[thread]->gathering; }
  // A copy decide() allowed is not sent: its token goes back.
  void refund(std::size_t thread) { shards_[thread]->gate.refund(); }
  // Queues `copy` for the worker (leaving it empty) or counts it as dropped (queue_full) and
  // releases its memory.
  void hand_over(std::size_t thread, ShadowCopy& copy);
  void count_dropped(std::size_t thread, shadow::DropReason reason);

 private:
  struct alignas(64) Shard {
    Shard(const Config& config, std::size_t threads, Clock::time_point now);
    ShadowGate gate;
    ShadowQueue queue;
    std::size_t gathering = 0;  // bytes of the copies being gathered on this thread
  };
  double fraction_;
  std::size_t max_body_;
  std::size_t gather_limit_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::shared_ptr<shadow::ShadowAnalysis> analysis_;
  std::unique_ptr<ShadowWorker> worker_;
  bool started_ = false;
};

// Part 6 as the request path sees it. Off (no --shadow-upstream), nothing is drawn or copied.
class ShadowTap {
 public:
  using Clock = std::chrono::steady_clock;
  ShadowTap() = default;  // off
  explicit ShadowTap(ShadowTraffic& traffic) : traffic_(&traffic) {}

  bool on() const { return traffic_ != nullptr; }
  double fraction() const { return traffic_ ? traffic_->fraction() : 0; }
  std::size_t max_body() const { return traffic_ ? traffic_->max_body() : 0; }
  ShadowDecision decide(std::size_t thread, Route route, bool drawn,
                        std::optional<std::uint64_t> content_length, Clock::time_point now) const {
    if (!traffic_) return ShadowDecision::skip;
    return traffic_->decide(thread, route, drawn, content_length, now);
  }
  // Only for a request decide() chose to copy.
  bool reserve(std::size_t thread, std::size_t bytes) const {
    return traffic_->reserve(thread, bytes);
  }
  void release(std::size_t thread, std::size_t bytes) const { traffic_->release(thread, bytes); }
  void refund(std::size_t thread) const { traffic_->refund(thread); }
  std::size_t gathering(std::size_t thread) const {
    return traffic_ ? traffic_->gathering(thread) : 0;
  }
  void hand_over(std::size_t thread, ShadowCopy& copy) const { traffic_->hand_over(thread, copy); }
  void count_dropped(std::size_t thread, shadow::DropReason reason) const {
    traffic_->count_dropped(thread, reason);
  }

 private:
  ShadowTraffic* traffic_ = nullptr;
};

}  // namespace mlsidecar
