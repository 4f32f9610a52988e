#include "sidecar/optional_parts.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "metrics/drift/drift_engine.h"
#include "metrics/llm/llm_metrics.h"
#include "policies/admission_controller.h"
#include "policies/autoscale_signals.h"

namespace mlsidecar {

namespace {
// Knative's default target when no concurrency limit says otherwise.
constexpr double kDefaultTargetConcurrency = 100;
// Knative's target utilisation of the hard limit.
constexpr double kTargetUtilisation = 0.7;
constexpr auto kSignalPeriod = std::chrono::seconds(1);
}  // namespace

struct OptionalParts::Impl {
  std::shared_ptr<drift::DriftEngine> drift;
  std::shared_ptr<policies::AdmissionController> admission;
  std::shared_ptr<policies::AutoscaleSignals> signals;
  std::shared_ptr<llm::LlmMetrics> llm;

  // The sampler that advances the autoscaling windows once a second.
  std::thread sampler;
  std::mutex mutex;  // guards stop_requested
  std::condition_variable wake;
  bool stop_requested = false;
};

OptionalParts::OptionalParts(const Config& config, SidecarState& state,
                             std::vector<std::shared_ptr<prometheus::Collectable>>& collectables)
    : impl_(std::make_unique<Impl>()) {
  if (!config.drift_profile.empty()) {
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
      impl_->drift = std::make_shared<drift::DriftEngine>(settings, config.threads);
    } catch (const std::runtime_error& e) {
      throw ConfigError(std::string("--drift-profile: ") + e.what());
    }
    state.drift = impl_->drift.get();
    collectables.push_back(impl_->drift);
  }

  policies::AdmissionParams admission;
  admission.capacity = config.container_concurrency;
  admission.queue_depth = config.queue_depth;
  admission.queue_timeout = config.queue_timeout;
  impl_->admission = std::make_shared<policies::AdmissionController>(admission);
  if (!impl_->admission->unlimited()) state.admission = impl_->admission.get();
  collectables.push_back(impl_->admission);

  policies::SignalParams signals;
  signals.target_concurrency = config.target_concurrency > 0 ? config.target_concurrency
                               : config.container_concurrency > 0
                                   ? kTargetUtilisation * static_cast<double>(config.container_concurrency)
                                   : kDefaultTargetConcurrency;
  if (config.queue_depth > 0) signals.target_queue_length = static_cast<double>(config.queue_depth) / 2;
  signals.target_output_tokens_per_second = config.target_output_tokens_per_second;
  signals.latency_slo_seconds = config.latency_slo_seconds;
  signals.latency_quantile = config.latency_slo_quantile;
  signals.shards = config.threads + 1;
  impl_->signals = std::make_shared<policies::AutoscaleSignals>(signals, std::chrono::steady_clock::now());
  state.signals = impl_->signals.get();
  collectables.push_back(impl_->signals);

  impl_->llm = std::make_shared<llm::LlmMetrics>(config.threads, config.max_models, config.model);
  state.llm = impl_->llm.get();
  collectables.push_back(impl_->llm);
}

OptionalParts::~OptionalParts() { stop(); }

void OptionalParts::start() {
  if (impl_->drift) impl_->drift->start();
  impl_->sampler = std::thread([impl = impl_.get()] {
    pthread_setname_np(pthread_self(), "mlsidecar-sig");
    std::unique_lock lock(impl->mutex);
    while (!impl->wake.wait_for(lock, kSignalPeriod, [impl] { return impl->stop_requested; })) {
      impl->signals->update(std::chrono::steady_clock::now());
    }
  });
}

void OptionalParts::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop_requested = true;
  }
  impl_->wake.notify_all();
  if (impl_->sampler.joinable()) impl_->sampler.join();
  if (impl_->drift) impl_->drift->stop();
}

std::function<std::string()> OptionalParts::drift_json() const {
  if (!impl_->drift) return {};
  return [engine = impl_->drift] { return engine->drift_json(); };
}

}  // namespace mlsidecar
