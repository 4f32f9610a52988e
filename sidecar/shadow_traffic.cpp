#include "sidecar/shadow_traffic.h"

#include <algorithm>
#include <stdexcept>

#include "metrics/drift/payload.h"
#include "metrics/shadow/shadow_analysis.h"
#include "sidecar/shadow_worker.h"

namespace mlsidecar {

ShadowTraffic::Shard::Shard(const Config& config, std::size_t threads, Clock::time_point now)
    : gate(config.shadow_max_rps, static_cast<unsigned>(threads), config.shadow_max_body, now),
      queue(kQueueSlots, queue_bytes(config.shadow_max_body)) {}

namespace {

shadow::ShadowAnalysisSettings analysis_settings(const Config& config, std::size_t threads) {
  shadow::ShadowAnalysisSettings settings;
  settings.version = config.shadow_version;
  settings.profile_path = config.drift_profile;
  if (!drift::parse_payload_format(config.drift_format, settings.format)) {
    throw ConfigError("--drift-format '" + config.drift_format + "': unknown format");
  }
  settings.class_outputs = config.shadow_class_outputs;
  settings.argmax_outputs = config.shadow_argmax_outputs;
  settings.drift_window = config.drift_window;
  settings.drift_interval = config.drift_interval;
  settings.producers = threads + 1;  // the I/O threads, then the worker
  // The shadow drift engine gets at most --shadow-max-rps bodies/s: room for two of the largest.
  settings.drift_queue_bytes = std::max<std::size_t>(4u << 20, 2 * config.shadow_max_body);
  return settings;
}

}  // namespace

ShadowTraffic::ShadowTraffic(const Config& config)
    : fraction_(config.shadow_fraction),
      max_body_(config.shadow_max_body),
      gather_limit_(gather_bytes(config.shadow_max_body)) {
  const auto endpoint = shadow_upstream_of(config);
  if (!endpoint) throw ConfigError("--shadow-upstream: empty");
  const std::size_t threads = config.threads < 1 ? 1 : config.threads;
  const auto now = Clock::now();
  std::vector<ShadowQueue*> queues;
  for (std::size_t i = 0; i < threads; ++i) {
    shards_.push_back(std::make_unique<Shard>(config, threads, now));
    queues.push_back(&shards_.back()->queue);
  }
  try {
    analysis_ = std::make_shared<shadow::ShadowAnalysis>(analysis_settings(config, threads));
  } catch (const std::runtime_error& e) {
    throw ConfigError(std::string("--shadow-upstream: ") + e.what());
  }
  ShadowWorker::Params params;
  params.upstream = *endpoint;
  params.max_body = config.shadow_max_body;
  params.timeout = config.shadow_timeout;
  params.max_in_flight = kMaxInFlight;
  params.producer = threads;
  worker_ = std::make_unique<ShadowWorker>(params, std::move(queues), *analysis_);
}

ShadowTraffic::~ShadowTraffic() { stop(); }

void ShadowTraffic::start() {
  if (started_) return;
  started_ = true;
  analysis_->start();
  worker_->start();
}

void ShadowTraffic::stop() {
  worker_->stop();  // first: what it still held is counted by the analysis
  if (!started_) return;
  started_ = false;
  analysis_->stop();
}

std::shared_ptr<prometheus::Collectable> ShadowTraffic::collectable() const { return analysis_; }

std::optional<std::string> ShadowTraffic::drift_json() const { return analysis_->drift_json(); }

std::string ShadowTraffic::disagreements_json() const { return analysis_->disagreements_json(); }

ShadowDecision ShadowTraffic::decide(std::size_t thread, Route route, bool drawn,
                                     std::optional<std::uint64_t> content_length,
                                     Clock::time_point now) {
  const ShadowDecision decision = shards_[thread]->gate.decide(route, drawn, content_length, now);
  if (decision == ShadowDecision::too_large) {
    analysis_->record_dropped(thread, shadow::DropReason::too_large);
  } else if (decision == ShadowDecision::rate_limited) {
    analysis_->record_dropped(thread, shadow::DropReason::rate_limited);
  }
  return decision;
}

void ShadowTraffic::hand_over(std::size_t thread, ShadowCopy& copy) {
  if (shards_[thread]->queue.try_push(copy)) {
    worker_->wake();
    return;
  }
  analysis_->record_dropped(thread, shadow::DropReason::queue_full);
  shards_[thread]->gate.refund();
  copy.release();
}

void ShadowTraffic::count_dropped(std::size_t thread, shadow::DropReason reason) {
  analysis_->record_dropped(thread, reason);
}

}  // namespace mlsidecar
