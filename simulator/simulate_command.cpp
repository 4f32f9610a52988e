#include "simulator/simulate_command.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include "simulator/load_trace.h"
#include "simulator/scaling_simulator.h"
#include "simulator/simulation_report.h"

namespace mlsidecar::policies {
namespace {

constexpr const char* kUsage = R"(Usage: mlsidecar simulate [flags]

Replays a load trace through simulated replicas (each with mlsidecar's admission queue and
autoscaling signals) scaled by a model of the Kubernetes HPA v2 controller, once per signal
choice, and compares: requests shed, p50/p99 latency, SLO violations, replica-seconds, scaling
events.

Load:
  --trace NAME|FILE            steady, diurnal, spike, ramp, tokens, or a CSV file
                               (time_seconds,requests_per_second[,mean_output_tokens]) [steady]
  --duration SECONDS           simulate this long [the trace's length]
  --arrivals poisson|uniform   arrival process [poisson]
  --seed N                     random seed [1]
Replica:
  --container-concurrency C    requests at the model at once per replica [4]
  --queue-depth Q              requests waiting per replica [2*C]
  --queue-timeout SECONDS      longest wait in the queue (0: none) [10]
  --workload requests|tokens   service-time model [tokens if the trace has token counts]
  --service-time SECONDS       mean service time, requests workload [0.5]
  --service-distribution D     fixed, exponential or lognormal [lognormal]
  --service-cv X               lognormal coefficient of variation [0.5]
  --prefill-seconds S          tokens workload: time before the first token [0.2]
  --seconds-per-token S        tokens workload: time per output token [0.02]
  --mean-output-tokens N       tokens workload, when the trace has none [100]
  --startup-delay SECONDS      pod creation to ready [30]
Signals:
  --signals LIST               comma-separated: cpu, request_rate, concurrency,
                               concurrency_panic, latency, output_tokens
                               [all but output_tokens; all for the tokens workload]
  --target-concurrency T       per replica [0.7*C]
  --target-utilization U       cpu choice: busy fraction of C [0.7]
  --latency-slo-seconds S      SLO for the latency signal and the report [4x mean service]
  --latency-quantile Q         quantile compared with the SLO [0.95]
  --target-output-tokens-per-second N   per replica [target concurrency / seconds per token]
  --metric-lag SECONDS         age of the metric the HPA sees (scrape + adapter) [10]
HPA:
  --min-replicas N [1]  --max-replicas N [20]  --initial-replicas N [needed at t=0]
  --sync-period SECONDS [15]  --tolerance X [0.1]
  --scale-up-stabilization SECONDS [0]  --scale-down-stabilization SECONDS [300]
Output:
  --csv FILE                   summary per signal choice
  --timeline-csv FILE          replicas and load every 5 s per signal choice
  --svg FILE                   chart of load and replicas over time
  --write-trace FILE           the trace used, as CSV
  --help                       this text
)";

struct Options {
  std::string trace = "steady";
  std::string signals;
  std::string workload;
  std::string csv, timeline_csv, svg, write_trace;
  int initial_replicas = 0;
  long queue_depth = -1;
  SimulationParams sim;
};

double parse_number(const std::string& flag, const std::string& v) {
  std::size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || !std::isfinite(d) || d < 0) {
    throw std::invalid_argument(flag + ": expected a non-negative number, got '" + v + "'");
  }
  return d;
}

int parse_int(const std::string& flag, const std::string& v) {
  const double d = parse_number(flag, v);
  if (d != std::floor(d) || d > 1e6) throw std::invalid_argument(flag + ": expected an integer, got '" + v + "'");
  return static_cast<int>(d);
}

std::chrono::nanoseconds seconds_to_ns(double s) {
  return std::chrono::nanoseconds(std::llround(s * 1e9));
}

Options parse(int argc, char** argv, bool& help) {
  Options o;
  auto& s = o.sim;
  s.service.distribution = ServiceModel::Distribution::lognormal;
  s.admission = {4, 0, std::chrono::seconds(10)};
  using Setter = std::function<void(const std::string&, const std::string&)>;
  const std::map<std::string, Setter> flags = {
      {"--trace", [&](auto&, auto& v) { o.trace = v; }},
      {"--duration", [&](auto& f, auto& v) { s.duration_seconds = parse_number(f, v); }},
      {"--arrivals",
       [&](auto& f, auto& v) {
         if (v != "poisson" && v != "uniform") throw std::invalid_argument(f + ": poisson or uniform");
         s.poisson = v == "poisson";
       }},
      {"--seed", [&](auto& f, auto& v) { s.seed = static_cast<std::uint64_t>(parse_int(f, v)); }},
      {"--container-concurrency",
       [&](auto& f, auto& v) { s.admission.capacity = static_cast<std::size_t>(parse_int(f, v)); }},
      {"--queue-depth", [&](auto& f, auto& v) { o.queue_depth = parse_int(f, v); }},
      {"--queue-timeout",
       [&](auto& f, auto& v) { s.admission.queue_timeout = seconds_to_ns(parse_number(f, v)); }},
      {"--workload",
       [&](auto& f, auto& v) {
         if (v != "requests" && v != "tokens") throw std::invalid_argument(f + ": requests or tokens");
         o.workload = v;
       }},
      {"--service-time", [&](auto& f, auto& v) { s.service.mean_seconds = parse_number(f, v); }},
      {"--service-distribution",
       [&](auto& f, auto& v) {
         using D = ServiceModel::Distribution;
         if (v == "fixed") s.service.distribution = D::fixed;
         else if (v == "exponential") s.service.distribution = D::exponential;
         else if (v == "lognormal") s.service.distribution = D::lognormal;
         else throw std::invalid_argument(f + ": fixed, exponential or lognormal");
       }},
      {"--service-cv", [&](auto& f, auto& v) { s.service.cv = parse_number(f, v); }},
      {"--prefill-seconds", [&](auto& f, auto& v) { s.service.prefill_seconds = parse_number(f, v); }},
      {"--seconds-per-token",
       [&](auto& f, auto& v) { s.service.seconds_per_token = parse_number(f, v); }},
      {"--mean-output-tokens",
       [&](auto& f, auto& v) { s.service.mean_output_tokens = parse_number(f, v); }},
      {"--startup-delay", [&](auto& f, auto& v) { s.startup_delay_seconds = parse_number(f, v); }},
      {"--signals", [&](auto&, auto& v) { o.signals = v; }},
      {"--target-concurrency", [&](auto& f, auto& v) { s.target_concurrency = parse_number(f, v); }},
      {"--target-utilization", [&](auto& f, auto& v) { s.target_utilization = parse_number(f, v); }},
      {"--latency-slo-seconds", [&](auto& f, auto& v) { s.latency_slo_seconds = parse_number(f, v); }},
      {"--latency-quantile", [&](auto& f, auto& v) { s.latency_quantile = parse_number(f, v); }},
      {"--target-output-tokens-per-second",
       [&](auto& f, auto& v) { s.target_output_tokens_per_second = parse_number(f, v); }},
      {"--metric-lag", [&](auto& f, auto& v) { s.metric_lag_seconds = parse_number(f, v); }},
      {"--min-replicas", [&](auto& f, auto& v) { s.hpa.min_replicas = parse_int(f, v); }},
      {"--max-replicas", [&](auto& f, auto& v) { s.hpa.max_replicas = parse_int(f, v); }},
      {"--initial-replicas", [&](auto& f, auto& v) { o.initial_replicas = parse_int(f, v); }},
      {"--sync-period", [&](auto& f, auto& v) { s.hpa.sync_period = seconds_to_ns(parse_number(f, v)); }},
      {"--tolerance", [&](auto& f, auto& v) { s.hpa.tolerance = parse_number(f, v); }},
      {"--scale-up-stabilization",
       [&](auto& f, auto& v) {
         s.hpa.behavior.scale_up.stabilization_window = seconds_to_ns(parse_number(f, v));
       }},
      {"--scale-down-stabilization",
       [&](auto& f, auto& v) {
         s.hpa.behavior.scale_down.stabilization_window = seconds_to_ns(parse_number(f, v));
       }},
      {"--csv", [&](auto&, auto& v) { o.csv = v; }},
      {"--timeline-csv", [&](auto&, auto& v) { o.timeline_csv = v; }},
      {"--svg", [&](auto&, auto& v) { o.svg = v; }},
      {"--write-trace", [&](auto&, auto& v) { o.write_trace = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return o;
    }
    std::string value;
    bool has_value = false;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    const auto it = flags.find(arg);
    if (it == flags.end()) throw std::invalid_argument("unknown flag " + arg + " (see --help)");
    if (!has_value) {
      if (i + 1 >= argc) throw std::invalid_argument(arg + ": missing value");
      value = argv[++i];
    }
    it->second(arg, value);
  }
  if (s.admission.capacity == 0) throw std::invalid_argument("--container-concurrency must be at least 1");
  if (s.hpa.min_replicas < 1 || s.hpa.max_replicas < s.hpa.min_replicas) {
    throw std::invalid_argument("need 1 <= --min-replicas <= --max-replicas");
  }
  if (s.hpa.sync_period.count() <= 0) throw std::invalid_argument("--sync-period must be positive");
  if (s.latency_quantile <= 0 || s.latency_quantile >= 1) {
    throw std::invalid_argument("--latency-quantile must be in (0, 1)");
  }
  s.admission.queue_depth = o.queue_depth >= 0 ? static_cast<std::size_t>(o.queue_depth)
                                                : 2 * s.admission.capacity;
  return o;
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

}  // namespace

int run_simulate_command(int argc, char** argv) {
  Options o;
  LoadTrace trace;
  std::vector<SignalChoice> choices;
  try {
    bool help = false;
    o = parse(argc, argv, help);
    if (help) {
      std::cout << kUsage;
      return 0;
    }
    bool builtin = false;
    for (const auto& n : LoadTrace::builtin_names()) builtin = builtin || n == o.trace;
    trace = builtin ? LoadTrace::builtin(o.trace) : LoadTrace::from_csv_file(o.trace);
    bool has_tokens = false;
    for (const auto& p : trace.points()) has_tokens = has_tokens || p.mean_output_tokens > 0;
    const bool tokens = o.workload.empty() ? has_tokens : o.workload == "tokens";
    o.sim.service.workload = tokens ? ServiceModel::Workload::tokens : ServiceModel::Workload::requests;
    choices = parse_signals(o.signals, tokens);
  } catch (const std::exception& e) {
    std::cerr << "mlsidecar simulate: " << e.what() << "\n";
    return 2;
  }

  SimulationParams resolved = resolve_defaults(o.sim, trace);
  if (o.initial_replicas > 0) {
    resolved.initial_replicas = o.initial_replicas;
  } else {
    const double mean_service = resolved.service.workload == ServiceModel::Workload::tokens
                                    ? resolved.service.prefill_seconds +
                                          resolved.service.seconds_per_token *
                                              resolved.service.mean_output_tokens
                                    : resolved.service.mean_seconds;
    resolved.initial_replicas = static_cast<int>(
        std::ceil(trace.rate_at(0) * mean_service / resolved.target_concurrency - 1e-9));
  }
  resolved.initial_replicas =
      std::clamp(resolved.initial_replicas, resolved.hpa.min_replicas, resolved.hpa.max_replicas);

  std::vector<SimulationResult> results;
  for (auto c : choices) results.push_back(simulate(trace, resolved, c));

  std::printf("trace %s: %.0f s, C=%zu, Q=%zu, target concurrency %.2f, SLO %.3f s (p%g), "
              "startup %.0f s, metric lag %.0f s, replicas %d..%d (start %d)\n",
              trace.name().c_str(), o.sim.duration_seconds > 0 ? o.sim.duration_seconds : trace.duration(),
              resolved.admission.capacity, resolved.admission.queue_depth,
              resolved.target_concurrency, resolved.latency_slo_seconds,
              resolved.latency_quantile * 100, resolved.startup_delay_seconds,
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

}  // namespace mlsidecar::policies
