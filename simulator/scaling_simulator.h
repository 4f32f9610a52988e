// ScalingSimulator: replays a LoadTrace through a fleet of simulated replicas, each with this
// sidecar's AdmissionController and AutoscaleSignals (the real classes, on simulated time), scaled
// by HpaModel, and reports what a user pays for a choice of scaling signal: requests shed, latency
// quantiles, SLO violations, replica-seconds and scaling events.
//
// The model, step by step (times in simulated seconds, all events ordered by time, then by kind:
// completions, timeouts, pods becoming ready, arrivals, signal samples, HPA syncs):
//  - Arrivals: the trace's rate integrated over time; `uniform` places an arrival each time the
//    integral crosses an integer, `poisson` draws exponential gaps (seeded, so every signal choice
//    sees the very same requests and service times).
//  - Routing: round-robin over ready pods that are not terminating (a Service spreads evenly).
//  - A replica serves at most C requests at once (admission), queues Q more for at most the queue
//    timeout, sheds the rest. A request's service time is drawn from the service model: fixed,
//    exponential or lognormal around the mean; for the `tokens` workload, prefill + tokens * time
//    per token, with tokens drawn around the trace's mean.
//  - Every second each ready replica samples its signals; the HPA sees each pod's value as it was
//    `metric_lag` ago (pods ready for less than that have no sample yet: "missing").
//  - Every sync period the HpaModel sets the replica count. New pods are unready for
//    `startup_delay`; removed pods stop receiving requests at once and finish what they hold.
//  - Replica-seconds count every pod that exists (starting, ready, or draining).
//
// Thread safety: none; a simulation is a single-threaded function call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policies/admission_controller.h"
#include "simulator/hpa_model.h"
#include "simulator/load_trace.h"

namespace mlsidecar::policies {

enum class SignalChoice {
  cpu,
  request_rate,
  concurrency,
  concurrency_panic,
  latency,
  output_tokens
};
const char* signal_choice_name(SignalChoice c);
std::vector<SignalChoice> all_signal_choices();

struct ServiceModel {
  enum class Distribution { fixed, exponential, lognormal };
  enum class Workload { requests, tokens };
  Workload workload = Workload::requests;
  Distribution distribution = Distribution::fixed;
  double mean_seconds = 0.5;        // requests workload
  double cv = 0.5;                  // lognormal: coefficient of variation
  double prefill_seconds = 0.2;     // tokens workload
  double seconds_per_token = 0.02;  // tokens workload
  double mean_output_tokens = 100;  // tokens workload, when the trace does not say
};

struct SimulationParams {
  AdmissionParams admission{4, 8, std::chrono::seconds(10)};
  ServiceModel service;
  HpaParams hpa{1, 20, 0.1, std::chrono::seconds(15), {}};
  int initial_replicas = 1;
  double startup_delay_seconds = 30;
  double metric_lag_seconds = 10;
  bool poisson = true;
  std::uint64_t seed = 1;
  double target_concurrency = 0;    // 0: 70% of capacity
  double target_utilization = 0.7;  // cpu choice
  double latency_slo_seconds = 0;   // 0: 4 x the mean service time (at the trace's start)
  double latency_quantile = 0.95;
  double target_output_tokens_per_second = 0;  // 0: target_concurrency / seconds_per_token
  double timeline_step_seconds = 5;
  double duration_seconds = 0;  // 0: the trace's duration
};

struct TimelinePoint {
  double time_seconds = 0;
  double arrival_rate = 0;
  int replicas = 0;  // the HPA's spec
  int ready = 0;
  double metric = 0;  // average over ready pods of the largest HPA metric, as the HPA saw it
};

struct SimulationResult {
  SignalChoice choice = SignalChoice::concurrency;
  std::uint64_t requests = 0, served = 0;
  std::uint64_t shed_queue_full = 0, shed_queue_timeout = 0, shed_no_replica = 0;
  double p50_seconds = 0, p99_seconds = 0;
  std::uint64_t slo_violations = 0;  // served slower than the SLO, plus every shed request
  double slo_seconds = 0;
  double replica_seconds = 0;
  int scale_events = 0;
  int peak_replicas = 0;
  std::vector<TimelinePoint> timeline;

  std::uint64_t shed() const { return shed_queue_full + shed_queue_timeout + shed_no_replica; }
};

// The per-replica target concurrency, SLO, etc. after defaults are applied.
SimulationParams resolve_defaults(SimulationParams params, const LoadTrace& trace);

SimulationResult simulate(const LoadTrace& trace, const SimulationParams& params,
                          SignalChoice choice);

}  // namespace mlsidecar::policies
