// ShadowAnalysis: construction and recording (the shadow worker's side). Collect() is in
// shadow_exposition.cpp.
#include "metrics/shadow/shadow_analysis.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "metrics/shadow/generation_outcome.h"
#include "metrics/shadow/shadow_state.h"

namespace mlsidecar::shadow {
namespace {

std::optional<drift::ReferenceProfile> load(const std::string& path) {
  if (path.empty()) return std::nullopt;
  return drift::load_profile(path);  // throws one line naming the file
}

// The profile's output features only: the shadow gets the same requests as the primary, so its
// inputs are the primary's and their drift is already published.
drift::ReferenceProfile outputs_only(const drift::ReferenceProfile& profile) {
  drift::ReferenceProfile p;
  p.source = profile.source;
  p.output_columns = profile.output_columns;
  p.tensor_columns = profile.tensor_columns;
  for (const drift::FeatureProfile& f : profile.features) {
    if (f.direction == drift::Direction::output) p.features.push_back(f);
  }
  return p;
}

std::size_t code_index(int status) {
  if (status < 100 || status > 599) return kErrorCode;
  return static_cast<std::size_t>(status / 100 - 1);
}

bool is_2xx(int status) { return status >= 200 && status <= 299; }

void bump(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::queue_full:
      return "queue_full";
    case DropReason::rate_limited:
      return "rate_limited";
    case DropReason::too_large:
      return "too_large";
    case DropReason::memory:
      return "memory";
    case DropReason::abandoned:
      return "abandoned";
    case DropReason::primary_failed:
      return "primary_failed";
    case DropReason::shutdown:
      break;
  }
  return "shutdown";
}

ShadowAnalysis::Impl::Impl(ShadowAnalysisSettings s)
    : settings(std::move(s)),
      profile(load(settings.profile_path)),
      comparison({settings.format, settings.class_outputs, settings.argmax_outputs},
                 profile ? &*profile : nullptr),
      producer_rows(std::max<std::size_t>(1, settings.producers)),
      dropped(std::make_unique<DropCells[]>(producer_rows)) {
  // Outputs named up front get their series (at zero) and their label first: the flags, then the
  // profile's output features, except the columns of argmax vectors.
  auto declare = [this](const std::string& name, bool as_label) {
    OutputCells& cells = output_cells[outputs.index(name)];
    (as_label ? cells.labels : cells.numbers).store(true, std::memory_order_relaxed);
  };
  for (const std::string& name : settings.class_outputs) declare(name, true);
  for (const std::string& name : settings.argmax_outputs) declare(name, true);
  if (!profile) return;
  for (const drift::FeatureProfile& f : profile->features) {
    if (f.direction != drift::Direction::output || comparison.is_argmax_column(f.name)) continue;
    declare(f.name, comparison.declared_label(f.name));
  }
  drift::ReferenceProfile watched = outputs_only(*profile);
  if (watched.features.empty()) return;
  drift::DriftSettings ds;
  ds.profile_path = settings.profile_path;
  ds.window = settings.drift_window;
  ds.interval = settings.drift_interval;
  ds.format = settings.format;
  // The transport already caps the body (--shadow-max-body); the queue's byte budget bounds
  // the memory of bodies waiting for the drift worker.
  ds.max_body = std::numeric_limits<std::size_t>::max();
  ds.queue_capacity = 1024;  // one producer (the shadow worker) at the shadow's sampled rate
  ds.queue_bytes = settings.drift_queue_bytes;
  ds.metric_prefix = "mlsidecar_shadow_";
  ds.metric_labels = {{"version", settings.version}};
  drift = std::make_unique<drift::DriftEngine>(std::move(ds), 1, std::move(watched));
}

ShadowAnalysis::ShadowAnalysis(ShadowAnalysisSettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {}

ShadowAnalysis::~ShadowAnalysis() { stop(); }

void ShadowAnalysis::start() {
  if (impl_->drift) impl_->drift->start();
}

void ShadowAnalysis::stop() {
  if (impl_->drift) impl_->drift->stop();
}

void ShadowAnalysis::compute_drift_now() {
  if (impl_->drift) impl_->drift->compute_now();
}

std::optional<std::string> ShadowAnalysis::drift_json() const {
  if (!impl_->drift) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(impl_->drift->drift_json());
  doc["version"] = impl_->settings.version;
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ShadowAnalysis::disagreements_json() const {
  return impl_->disagreements.json(impl_->settings.version);
}

void ShadowAnalysis::record_dropped(std::size_t producer, DropReason reason) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  if (i >= kDropReasonCount) return;
  // One writer per row: a plain increment, published to Collect() by the relaxed store.
  Counter& c = impl_->dropped[std::min(producer, impl_->producer_rows - 1)].counts[i];
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void ShadowAnalysis::record_pair(const ShadowPair& pair) {
  Impl& m = *impl_;
  const Answer& p = pair.primary;
  const Answer& s = pair.shadow;
  RouteCells& route = m.routes[static_cast<std::size_t>(pair.route)];
  bump(route.requests[s.status == 0 ? kErrorCode : code_index(s.status)]);
  if (s.status == 0) return;

  bump(route.compared);
  if (code_index(p.status) == code_index(s.status)) {
    bump(route.status_matches);
  } else {
    m.disagreements.add({std::chrono::system_clock::now(),
                         std::string(pair.request_id),
                         pair.route,
                         {},
                         "status",
                         0,
                         std::to_string(p.status),
                         std::to_string(s.status)});
  }
  if (p.status != 0 && p.seconds > 0 && s.seconds >= 0) {
    route.latency_ratio.observe(s.seconds / p.seconds, ratio_buckets());
  }

  // The shadow's own drift is read whatever the primary answered.
  if (m.drift && is_2xx(s.status) && !s.truncated && !s.encoded) {
    m.drift->offer(0, drift::Direction::output, pair.route, s.body);
  }
  if (!is_2xx(p.status) || !is_2xx(s.status)) {
    bump(m.skipped[static_cast<std::size_t>(SkipReason::not_2xx)]);
    return;
  }
  if (p.encoded || s.encoded) {
    bump(m.skipped[static_cast<std::size_t>(SkipReason::encoded)]);
    return;
  }
  if (p.truncated || s.truncated) {
    bump(m.skipped[static_cast<std::size_t>(SkipReason::truncated)]);
    return;
  }
  // Reading allocates; out of memory on the shadow worker costs this pair's outputs only.
  try {
    compare_outputs(pair);
  } catch (const std::exception&) {
    bump(m.skipped[static_cast<std::size_t>(SkipReason::unreadable)]);
  }
}

void ShadowAnalysis::compare_outputs(const ShadowPair& pair) {
  Impl& m = *impl_;
  const Answer& p = pair.primary;
  const Answer& s = pair.shadow;
  const ComparisonOutcome outcome = m.comparison.compare(pair.route, p.body, s.body);
  if (outcome.skipped) bump(m.skipped[static_cast<std::size_t>(*outcome.skipped)]);
  for (const OutputOutcome& o : outcome.outputs) {
    OutputCells& cells = m.output_cells[m.outputs.index(o.name)];
    if (o.kind == OutputKind::number) {
      cells.numbers.store(true, std::memory_order_relaxed);
      for (const NumberDifference& d : o.differences) {
        cells.absolute.observe(d.absolute, abs_difference_buckets());
        cells.relative.observe(d.relative, relative_difference_buckets());
      }
    } else {
      cells.labels.store(true, std::memory_order_relaxed);
      bump(cells.compared, o.compared);
      bump(cells.matches, o.matches);
      if (o.first_mismatch) {
        m.disagreements.add({std::chrono::system_clock::now(), std::string(pair.request_id),
                             pair.route, o.name, o.kind == OutputKind::argmax ? "argmax" : "label",
                             *o.first_mismatch, o.primary_value, o.shadow_value});
      }
    }
  }

  if (pair.route != Route::generate) return;
  const GenerationOutcome a = generation_outcome(pair.request_body, p.content_type, p.body);
  const GenerationOutcome b = generation_outcome(pair.request_body, s.content_type, s.body);
  if (!a.read || !b.read) return;
  if (a.output_tokens && b.output_tokens && *a.output_tokens > 0) {
    m.token_ratio.observe(
        static_cast<double>(*b.output_tokens) / static_cast<double>(*a.output_tokens),
        ratio_buckets());
  }
  if (!a.finish_reason.empty() && !b.finish_reason.empty()) {
    bump(m.finish_compared);
    if (a.finish_reason == b.finish_reason) bump(m.finish_matches);
  }
}

}  // namespace mlsidecar::shadow
