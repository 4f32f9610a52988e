#include "sidecar/request_chain.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/grpc_metrics.h"
#include "metrics/llm/llm_metrics.h"
#include "policies/admission_controller.h"
#include "policies/autoscale_signals.h"
#include "sidecar/h2/types.h"

namespace mlsidecar {

namespace {
// Knative's default target when no concurrency limit says otherwise.
constexpr double kDefaultTargetConcurrency = 100;
// Knative's target utilisation of the hard limit.
constexpr double kTargetUtilisation = 0.7;
constexpr auto kSignalPeriod = std::chrono::seconds(1);

policies::SignalParams signal_params(const Config& config) {
  policies::SignalParams p;
  const auto limit = static_cast<double>(config.container_concurrency);
  p.target_concurrency = config.target_concurrency > 0      ? config.target_concurrency
                         : config.container_concurrency > 0 ? kTargetUtilisation * limit
                                                            : kDefaultTargetConcurrency;
  const std::size_t queue_depth = queue_depth_of(config);
  if (queue_depth > 0) p.target_queue_length = static_cast<double>(queue_depth) / 2;
  p.target_output_tokens_per_second = config.target_output_tokens_per_second;
  p.latency_slo_seconds = config.latency_slo_seconds;
  p.latency_quantile = config.latency_slo_quantile;
  p.shards = config.threads + 1;  // one per I/O thread, one for the rest
  return p;
}

std::shared_ptr<drift::DriftEngine> make_drift_engine(const Config& config) {
  drift::DriftSettings settings;
  settings.profile_path = config.drift_profile;
  settings.window = config.drift_window;
  settings.interval = config.drift_interval;
  settings.sample_rate = config.drift_sample_rate;
  settings.max_body = config.drift_max_body;
  settings.max_features = config.drift_max_features;
  if (!drift::parse_payload_format(config.drift_format, settings.format)) {
    throw ConfigError("--drift-format '" + config.drift_format + "': unknown format");
  }
  try {
    return std::make_shared<drift::DriftEngine>(settings, config.threads);
  } catch (const std::runtime_error& e) {
    throw ConfigError(std::string("--drift-profile: ") + e.what());
  }
}

}  // namespace

DriftTap::Pick DriftTap::pick(std::size_t thread, Route route) const {
  const bool model_call =
      route == Route::predict || route == Route::infer || route == Route::generate;
  if (engine_ == nullptr || !model_call || !engine_->should_sample(thread)) return {};
  return {engine_->watches(drift::Direction::input), engine_->watches(drift::Direction::output)};
}

void DriftTap::hand_over(std::size_t thread, drift::Direction direction, Route route, bool overflow,
                         std::string_view body) const {
  if (overflow) {
    engine_->count_too_large(thread);
  } else if (!body.empty()) {
    engine_->offer(thread, direction, route, body);
  }
}

void DriftTap::hand_over_v2_grpc(std::size_t thread, drift::Direction direction, Route route,
                                 bool overflow, std::string_view message) const {
  if (overflow) {
    engine_->count_too_large(thread);
  } else {
    // An empty message is a valid one (no tensors), read like the others.
    engine_->offer(thread, direction, route, message, drift::PayloadFormat::open_inference_v2_grpc);
  }
}

void DriftTap::count_compressed(std::size_t thread) const { engine_->count_compressed(thread); }

// Advances the autoscaling windows once a second, off the request path.
struct RequestChain::Sampler {
  std::thread thread;
  std::mutex mutex;  // guards stop_requested
  std::condition_variable wake;
  bool stop_requested = false;
};

RequestChain::RequestChain(const Config& config) : config_(config) {
  // 1. request metrics
  metrics_ = std::make_shared<metrics::RequestMetrics>(config.threads, config.max_models,
                                                       config.model, config.model_version);
  collectables_.push_back(metrics_);
  // Every h2::Refusal by index, up to the first value refusal_name() does not know; `none` is
  // never counted.
  std::vector<std::string> refusals;
  for (int r = 0;; ++r) {
    const auto reason = static_cast<h2::Refusal>(r);
    if (h2::refusal_name(reason) == "unknown") break;
    refusals.emplace_back(reason == h2::Refusal::none ? "" : h2::refusal_name(reason));
  }
  grpc_ = std::make_shared<metrics::GrpcMetrics>(config.threads, *metrics_, std::move(refusals));
  collectables_.push_back(grpc_);
  // 2. autoscale signals
  signals_ = std::make_shared<policies::AutoscaleSignals>(signal_params(config),
                                                          std::chrono::steady_clock::now());
  collectables_.push_back(signals_);
  // 3. admission
  policies::AdmissionParams admission;
  admission.capacity = config.container_concurrency;
  admission.queue_depth = queue_depth_of(config);
  admission.queue_timeout = config.queue_timeout;
  admission_ = std::make_shared<policies::AdmissionController>(admission);
  admission_limited_ = !admission_->unlimited();
  collectables_.push_back(admission_);
  // 4. LLM tap
  // Labelled by the request's series: the same model and version as the request families.
  llm_ = std::make_shared<llm::LlmMetrics>(config.threads, *metrics_);
  collectables_.push_back(llm_);
  // 5. drift tap
  if (!config.drift_profile.empty()) {
    drift_ = make_drift_engine(config);
    drift_tap_ = DriftTap(*drift_);
    collectables_.push_back(drift_);
  }
  // 6. shadow tap
  if (!config.shadow_upstream.empty()) {
    shadow_ = std::make_unique<ShadowTraffic>(config);
    shadow_tap_ = ShadowTap(*shadow_);
    collectables_.push_back(shadow_->collectable());
  }
}

RequestChain::~RequestChain() { stop(); }

void RequestChain::start() {
  if (drift_) drift_->start();
  if (shadow_) shadow_->start();
  sampler_ = std::make_unique<Sampler>();
  sampler_->thread = std::thread([s = sampler_.get(), signals = signals_.get()] {
    pthread_setname_np(pthread_self(), "mlsidecar-sig");
    std::unique_lock lock(s->mutex);
    while (!s->wake.wait_for(lock, kSignalPeriod, [s] { return s->stop_requested; })) {
      signals->update(std::chrono::steady_clock::now());
    }
  });
}

void RequestChain::stop() {
  if (sampler_) {
    {
      std::lock_guard lock(sampler_->mutex);
      sampler_->stop_requested = true;
    }
    sampler_->wake.notify_all();
    if (sampler_->thread.joinable()) sampler_->thread.join();
  }
  if (drift_) drift_->stop();
  if (shadow_) shadow_->stop();
}

std::optional<std::string> RequestChain::drift_json() const {
  if (!drift_) return std::nullopt;
  std::optional<std::string> shadow = shadow_ ? shadow_->drift_json() : std::nullopt;
  if (!shadow) return drift_->drift_json();
  // The shadow's output drift beside the primary's: the same document under "shadow".
  nlohmann::json doc = nlohmann::json::parse(drift_->drift_json());
  doc["shadow"] = nlohmann::json::parse(*shadow);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> RequestChain::shadow_json() const {
  if (!shadow_) return std::nullopt;
  return shadow_->disagreements_json();
}

InFlight::InFlight(metrics::RequestMetrics::Shard& metrics, policies::AutoscaleSignals& signals,
                   Clock::time_point now, bool load)
    : metrics_(metrics), signals_(signals), load_(load) {
  metrics_.request_started();
  if (load_) signals_.on_request_start(now);
}

InFlight::~InFlight() {
  if (!open_) return;
  metrics_.request_abandoned();
  if (load_) signals_.on_request_end(Clock::now());
}

void InFlight::finish(const metrics::RequestSample& sample, Clock::time_point now) {
  if (!open_) return;
  open_ = false;
  metrics_.request_finished(sample);
  if (!load_) return;
  signals_.on_request_end(now, std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(sample.duration_seconds)));
}

}  // namespace mlsidecar
