#include "simulator/simulate_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "simulator/load_trace.h"
#include "simulator/scaling_simulator.h"
#include "simulator/simulation_report.h"

namespace mlsidecar::policies {
namespace {

constexpr const char* kDescription =
    "Replays a load trace through simulated replicas (each with mlsidecar's admission queue and\n"
    "autoscaling signals) scaled by a model of the Kubernetes HPA v2 controller, once per signal\n"
    "choice, and compares: requests shed, p50/p99 latency, SLO violations, replica-seconds,\n"
    "scaling events. Durations are written 500ms, 30s, 5m or in plain seconds.";

// The flags, one field each; to_params() makes the simulator's parameters of them.
struct Options {
  // Load.
  std::string trace = "steady";
  double duration = 0;  // seconds; 0: the trace's length
  bool poisson = true;
  std::uint64_t seed = 1;
  // Replica.
  std::size_t container_concurrency = 4;
  long queue_depth = -1;  // -1: 2 x container_concurrency
  std::chrono::nanoseconds queue_timeout = std::chrono::seconds(10);
  std::string workload;  // empty: tokens if the trace has token counts
  double service_time = 0.5;
  ServiceModel::Distribution distribution = ServiceModel::Distribution::lognormal;
  double service_cv = 0.5;
  double prefill = 0.2;
  double seconds_per_token = 0.02;
  double mean_output_tokens = 100;
  double startup_delay = 30;
  // Signals.
  std::string signals;
  double target_concurrency = 0;
  double target_utilization = 0.7;
  double latency_slo = 0;
  double latency_quantile = 0.95;
  double target_output_tokens_per_second = 0;
  double metric_lag = 10;
  // HPA.
  int min_replicas = 1, max_replicas = 20, initial_replicas = 0;
  std::chrono::nanoseconds sync_period = std::chrono::seconds(15);
  double tolerance = 0.1;
  std::chrono::nanoseconds scale_up_stabilization{0};
  std::chrono::nanoseconds scale_down_stabilization = std::chrono::seconds(300);
  // Output.
  std::string csv, timeline_csv, svg, write_trace;
};

std::vector<cli::Flag<Options>> load_and_replica_flags() {
  using O = Options;
  using D = ServiceModel::Distribution;
  return {
      cli::string_flag("trace", &O::trace,
                       "steady, diurnal, spike, ramp, tokens, or a CSV file "
                       "(time_seconds,requests_per_second[,mean_output_tokens])")
          .value_name("NAME|FILE"),
      cli::duration_flag("duration", &O::duration, "simulate this long")
          .default_text("the trace's length"),
      cli::enum_flag("arrivals", &O::poisson, {{"poisson", true}, {"uniform", false}},
                     "arrival process"),
      cli::uint_flag("seed", &O::seed, UINT64_MAX, "random seed"),
      cli::uint_flag("container-concurrency", &O::container_concurrency, 1000000,
                     "requests at the model at once per replica")
          .at_least(1),
      cli::uint_flag("queue-depth", &O::queue_depth, 1000000, "requests waiting per replica")
          .default_text("2 x --container-concurrency"),
      cli::duration_flag("queue-timeout", &O::queue_timeout, "longest wait in the queue (0: none)"),
      cli::choice_flag("workload", &O::workload, {"requests", "tokens"}, "service-time model")
          .default_text("tokens if the trace has token counts"),
      cli::duration_flag("service-time", &O::service_time, "mean service time, requests workload"),
      cli::enum_flag(
          "service-distribution", &O::distribution,
          {{"fixed", D::fixed}, {"exponential", D::exponential}, {"lognormal", D::lognormal}},
          "distribution of service times"),
      cli::number_flag("service-cv", &O::service_cv, 0, 100, "lognormal coefficient of variation"),
      cli::duration_flag("prefill-seconds", &O::prefill,
                         "tokens workload: time before the first token"),
      cli::duration_flag("seconds-per-token", &O::seconds_per_token,
                         "tokens workload: time per output token"),
      cli::number_flag("mean-output-tokens", &O::mean_output_tokens, 0, 1e9,
                       "tokens workload, when the trace has none"),
      cli::duration_flag("startup-delay", &O::startup_delay, "pod creation to ready"),
  };
}

std::vector<cli::Flag<Options>> signal_hpa_and_output_flags() {
  using O = Options;
  return {
      cli::string_flag("signals", &O::signals,
                       "comma-separated: cpu, request_rate, concurrency, concurrency_panic, "
                       "latency, output_tokens")
          .value_name("LIST")
          .default_text("all but output_tokens; all for the tokens workload"),
      cli::number_flag("target-concurrency", &O::target_concurrency, 0, 1e6, "per replica")
          .default_text("0.7 x --container-concurrency"),
      cli::number_flag("target-utilization", &O::target_utilization, 0, 1,
                       "cpu choice: busy fraction of --container-concurrency"),
      cli::duration_flag("latency-slo-seconds", &O::latency_slo,
                         "SLO for the latency signal and the report")
          .default_text("4 x the mean service time"),
      cli::number_flag("latency-quantile", &O::latency_quantile, 0, 1,
                       "quantile compared with the SLO, in (0, 1)"),
      cli::number_flag("target-output-tokens-per-second", &O::target_output_tokens_per_second, 0,
                       1e9, "per replica")
          .default_text("target concurrency / seconds per token"),
      cli::duration_flag("metric-lag", &O::metric_lag,
                         "age of the metric the HPA sees (scrape + adapter)"),
      cli::uint_flag("min-replicas", &O::min_replicas, 1000000, "HPA minReplicas").at_least(1),
      cli::uint_flag("max-replicas", &O::max_replicas, 1000000, "HPA maxReplicas").at_least(1),
      cli::uint_flag("initial-replicas", &O::initial_replicas, 1000000, "replicas at the start")
          .default_text("needed at t=0"),
      cli::duration_flag("sync-period", &O::sync_period, "HPA sync period"),
      cli::number_flag("tolerance", &O::tolerance, 0, 1, "HPA tolerance"),
      cli::duration_flag("scale-up-stabilization", &O::scale_up_stabilization,
                         "HPA scale-up stabilization window"),
      cli::duration_flag("scale-down-stabilization", &O::scale_down_stabilization,
                         "HPA scale-down stabilization window"),
      cli::string_flag("csv", &O::csv, "summary per signal choice").value_name("FILE"),
      cli::string_flag("timeline-csv", &O::timeline_csv, "replicas and load every 5 s per choice")
          .value_name("FILE"),
      cli::string_flag("svg", &O::svg, "chart of load and replicas over time").value_name("FILE"),
      cli::string_flag("write-trace", &O::write_trace, "the trace used, as CSV").value_name("FILE"),
  };
}

const cli::FlagSet<Options>& simulate_flags() {
  static const cli::FlagSet<Options> flags(
      cli::CommandInfo{.name = "simulate",
                       .usage = "usage: mlsidecar simulate [flags]",
                       .description = kDescription,
                       .env_prefix = ""},
      cli::join(load_and_replica_flags(), signal_hpa_and_output_flags()));
  return flags;
}

SimulationParams to_params(const Options& o) {
  if (o.max_replicas < o.min_replicas) {
    throw cli::UsageError("need --min-replicas <= --max-replicas");
  }
  if (o.sync_period.count() <= 0) throw cli::UsageError("--sync-period must be positive");
  if (o.latency_quantile <= 0 || o.latency_quantile >= 1) {
    throw cli::UsageError("--latency-quantile must be in (0, 1)");
  }
  SimulationParams s;
  s.duration_seconds = o.duration;
  s.poisson = o.poisson;
  s.seed = o.seed;
  s.admission.capacity = o.container_concurrency;
  s.admission.queue_depth =
      o.queue_depth >= 0 ? static_cast<std::size_t>(o.queue_depth) : 2 * o.container_concurrency;
  s.admission.queue_timeout = o.queue_timeout;
  s.service.mean_seconds = o.service_time;
  s.service.distribution = o.distribution;
  s.service.cv = o.service_cv;
  s.service.prefill_seconds = o.prefill;
  s.service.seconds_per_token = o.seconds_per_token;
  s.service.mean_output_tokens = o.mean_output_tokens;
  s.startup_delay_seconds = o.startup_delay;
  s.target_concurrency = o.target_concurrency;
  s.target_utilization = o.target_utilization;
  s.latency_slo_seconds = o.latency_slo;
  s.latency_quantile = o.latency_quantile;
  s.target_output_tokens_per_second = o.target_output_tokens_per_second;
  s.metric_lag_seconds = o.metric_lag;
  s.hpa.min_replicas = o.min_replicas;
  s.hpa.max_replicas = o.max_replicas;
  s.hpa.sync_period = o.sync_period;
  s.hpa.tolerance = o.tolerance;
  s.hpa.behavior.scale_up.stabilization_window = o.scale_up_stabilization;
  s.hpa.behavior.scale_down.stabilization_window = o.scale_down_stabilization;
  return s;
}

std::vector<SignalChoice> parse_signals(const std::string& list, bool tokens) {
  std::vector<SignalChoice> out;
  if (list.empty()) {
    for (auto c : all_signal_choices()) {
      if (c != SignalChoice::output_tokens || tokens) out.push_back(c);
    }
    return out;
  }
  std::istringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    bool found = false;
    for (auto c : all_signal_choices()) {
      if (name == signal_choice_name(c)) {
        out.push_back(c);
        found = true;
      }
    }
    if (!found) throw std::invalid_argument("--signals: unknown signal '" + name + "'");
  }
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

int run(const Options& o) {
  SimulationParams params = to_params(o);
  LoadTrace trace;
  std::vector<SignalChoice> choices;
  try {
    bool builtin = false;
    for (const auto& n : LoadTrace::builtin_names()) builtin = builtin || n == o.trace;
    trace = builtin ? LoadTrace::builtin(o.trace) : LoadTrace::from_csv_file(o.trace);
    bool has_tokens = false;
    for (const auto& p : trace.points()) has_tokens = has_tokens || p.mean_output_tokens > 0;
    const bool tokens = o.workload.empty() ? has_tokens : o.workload == "tokens";
    params.service.workload =
        tokens ? ServiceModel::Workload::tokens : ServiceModel::Workload::requests;
    choices = parse_signals(o.signals, tokens);
  } catch (const std::exception& e) {
    std::cerr << "mlsidecar simulate: " << e.what() << "\n";
    return 2;
  }

  SimulationParams resolved = resolve_defaults(params, trace);
  if (o.initial_replicas > 0) {
    resolved.initial_replicas = o.initial_replicas;
  } else {
    const double mean_service =
        resolved.service.workload == ServiceModel::Workload::tokens
            ? resolved.service.prefill_seconds +
                  resolved.service.seconds_per_token * resolved.service.mean_output_tokens
            : resolved.service.mean_seconds;
    resolved.initial_replicas = static_cast<int>(
        std::ceil(trace.rate_at(0) * mean_service / resolved.target_concurrency - 1e-9));
  }
  resolved.initial_replicas =
      std::clamp(resolved.initial_replicas, resolved.hpa.min_replicas, resolved.hpa.max_replicas);

  std::vector<SimulationResult> results;
  results.reserve(choices.size());
  for (auto c : choices) results.push_back(simulate(trace, resolved, c));

  std::printf(
      "trace %s: %.0f s, C=%zu, Q=%zu, target concurrency %.2f, SLO %.3f s (p%g), "
      "startup %.0f s, metric lag %.0f s, replicas %d..%d (start %d)\n",
      trace.name().c_str(), o.duration > 0 ? o.duration : trace.duration(),
      resolved.admission.capacity, resolved.admission.queue_depth, resolved.target_concurrency,
      resolved.latency_slo_seconds, resolved.latency_quantile * 100, resolved.startup_delay_seconds,
      resolved.metric_lag_seconds, resolved.hpa.min_replicas, resolved.hpa.max_replicas,
      resolved.initial_replicas);
  std::fputs(render_table(results).c_str(), stdout);
  try {
    if (!o.csv.empty()) write_file(o.csv, render_summary_csv(results));
    if (!o.timeline_csv.empty()) write_file(o.timeline_csv, render_timeline_csv(results));
    if (!o.svg.empty()) write_file(o.svg, render_svg(trace, resolved, results));
    if (!o.write_trace.empty()) write_file(o.write_trace, trace.to_csv());
  } catch (const std::exception& e) {
    std::cerr << "mlsidecar simulate: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int run_simulate_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(simulate_flags(), args, env, [](Options& o) { return run(o); });
}

}  // namespace mlsidecar::policies
