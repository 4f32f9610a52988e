// The admin port: /metrics (Prometheus text format 0.0.4), /healthz (the sidecar's own liveness),
// /readyz (the model answers its readiness probe and the sidecar is not draining), /config (the
// effective configuration), /drift (drift statistics) and the status page: / (HTML), /status.js,
// /status.css and /status.json (docs/status-page.md). It runs on its own thread and io_context, so
// a scrape storm never competes with the data path's event loops; the status page's snapshot ring
// is kept by a timer on that same io_context.
#pragma once

#include <prometheus/collectable.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/model_metrics.h"
#include "sidecar/request_chain.h"
#include "sidecar/state.h"
#include "sidecar/status/status_page.h"

namespace mlsidecar {

class AdminServer {
 public:
  // /metrics collects the chain's parts, then `more` (the process metrics), then appends the
  // model's own metrics when `model_metrics` is set (--merge-metrics; null when off).
  AdminServer(boost::asio::io_context& io, SidecarState& state, const RequestChain& chain,
              std::vector<std::shared_ptr<prometheus::Collectable>> more,
              std::shared_ptr<ModelMetrics> model_metrics = nullptr);
  // Binds and starts accepting; returns the bound endpoint.
  boost::asio::ip::tcp::endpoint start(const boost::asio::ip::tcp::endpoint& at);
  void stop();
  std::string render_metrics() const;
  // /status.json: identity, readiness, uptime, the snapshot ring, drift and shadow views.
  std::string render_status() const;
  bool ready() const;
  const RequestChain& chain() const { return chain_; }
  ModelMetrics* model_metrics() const { return model_metrics_.get(); }

 private:
  boost::asio::io_context& io_;
  SidecarState& state_;
  const RequestChain& chain_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::shared_ptr<ModelMetrics> model_metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_backoff_;  // after a failed accept (EMFILE): no busy loop
  std::string config_json_;
  std::chrono::steady_clock::time_point started_;
  status::StatusPage status_page_;
  std::vector<prometheus::MetricFamily> collect() const;
  void accept_next();
};

}  // namespace mlsidecar
