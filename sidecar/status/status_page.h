// The admin thread's side of the status page: a timer on the admin io_context that takes a
// snapshot of the metric families every `interval` into a bounded StatusRing, and the
// /status.json document built from that ring, the identity of the sidecar and the drift view.
// The I/O threads never see any of it: a snapshot is one Collect() of the same collectables
// /metrics serves, so the page's numbers agree with /metrics.
//
// Memory: `capacity` snapshots of a few dozen numbers each plus the histogram buckets (about
// 20 per histogram), i.e. some 100 KB at the default 120 x 5 s = 10 minutes.
//
// Thread safety: none; everything runs on the admin thread (its io_context has one thread).
#pragma once

#include <prometheus/metric_family.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/status/drift_view.h"
#include "metrics/status/status_ring.h"

namespace mlsidecar::status {

struct StatusPageSettings {
  std::chrono::milliseconds interval{5000};  // between snapshots
  std::size_t capacity = 120;                // snapshots kept: 10 minutes at 5 s
  DriftThresholds thresholds;                // the drift alert's, for the flags
};

class StatusPage {
 public:
  using Collect = std::function<std::vector<prometheus::MetricFamily>()>;

  StatusPage(boost::asio::io_context& io, Collect collect, StatusPageSettings settings = {});

  void start();  // the first snapshot now, then one every interval
  void stop();   // cancels the timer; idempotent
  void take_snapshot_now();

  // /status.json: `identity` (model, version, ready, ...) plus the ring, the drift view of the
  // /drift document `drift` (none: drift is off), the shadow comparison and, as
  // "shadow_disagreements", the /shadow document `shadow` (none: shadow traffic is off).
  std::string status_json(nlohmann::json identity, const std::optional<std::string>& drift,
                          const std::optional<std::string>& shadow = std::nullopt) const;
  const StatusRing& ring() const { return ring_; }

 private:
  void schedule();

  boost::asio::steady_timer timer_;
  Collect collect_;
  StatusPageSettings settings_;
  StatusRing ring_;
  bool running_ = false;
};

}  // namespace mlsidecar::status
