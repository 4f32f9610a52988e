#include "sidecar/config.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "metrics/drift/payload.h"
#include "sidecar/metrics_url.h"

namespace mlsidecar {
namespace {

using cli::duration_flag;
using cli::endpoint_flag;
using cli::number_flag;
using cli::string_flag;
using cli::uint_flag;

constexpr const char* kUsage =
    "usage: mlsidecar [serve] [--flag value]...\n"
    "       mlsidecar profile|drift-report|simulate|inject|uninject|webhook --help\n"
    "       mlsidecar version";

constexpr const char* kDescription =
    "A sidecar proxy for model servers: forwards every request to the model, publishes\n"
    "Prometheus metrics (latency, concurrency, drift) on the admin port.\n\n"
    "Subcommands: serve (the default), profile (a drift reference profile from training data),\n"
    "drift-report (a batch's drift against a profile, as one HTML file; exit 1 on drift),\n"
    "simulate (compare autoscaling signals on a load trace), inject/uninject (the sidecar in\n"
    "Kubernetes manifests), webhook (the same as an admission webhook), version.";

// The spellings the drift payload readers accept: the one list (metrics/drift/payload.h).
std::vector<std::string> drift_formats() {
  std::vector<std::string> out;
  for (const auto& spelling : drift::payload_format_spellings()) out.emplace_back(spelling.text);
  return out;
}

// A name that becomes a label value or is matched against one (a version, an output): not empty,
// no whitespace or control characters.
bool is_plain_name(std::string_view name) {
  return !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '\x7f';
  });
}

// --shadow-version: a string flag whose value must be a plain name.
cli::Flag<Config> version_flag(std::string name, std::string Config::*field, std::string help) {
  auto f = string_flag(std::move(name), field, std::move(help));
  f.spec.value_name = "V";
  f.set = [field](const cli::FlagSpec& spec, Config& config, const cli::Values& values) {
    if (!is_plain_name(values.back())) {
      throw ConfigError("--" + spec.name + " '" + values.back() +
                        "': expected a name without spaces or control characters");
    }
    config.*field = values.back();
  };
  return f;
}

// The outputs a flag may name, as many as the shadow analysis keeps apart (shadow::kMaxOutputs).
constexpr std::size_t kMaxNamedOutputs = 64;

// A list of names given as one comma-separated value (as the command line, an annotation or the
// environment carries it) or by repeating the flag; empty names between commas are skipped.
cli::Flag<Config> comma_list_flag(std::string name, std::vector<std::string> Config::*field,
                                  std::string help) {
  auto f = cli::list_flag(std::move(name), field, std::move(help));
  f.spec.value_name = "A,B";
  f.set = [field](const cli::FlagSpec& spec, Config& config, const cli::Values& values) {
    std::vector<std::string> names;
    for (const std::string& value : values) {
      for (std::size_t begin = 0; begin <= value.size();) {
        const std::size_t comma = std::min(value.find(',', begin), value.size());
        if (comma > begin) names.push_back(value.substr(begin, comma - begin));
        begin = comma + 1;
      }
      if (!std::all_of(names.begin(), names.end(), is_plain_name)) {
        throw ConfigError("--" + spec.name + " '" + value +
                          "': expected names without spaces or control characters");
      }
    }
    if (names.size() > kMaxNamedOutputs) {
      throw ConfigError("--" + spec.name + ": " + std::to_string(names.size()) +
                        " outputs, at most " + std::to_string(kMaxNamedOutputs));
    }
    config.*field = std::move(names);
  };
  return f;
}

std::vector<cli::Flag<Config>> flag_table() {
  using C = Config;
  return {
      endpoint_flag("listen", &C::listen, "data port address the clients call"),
      endpoint_flag("upstream", &C::upstream, "the model server, HOST:PORT"),
      endpoint_flag("admin", &C::admin, "admin port: /metrics /healthz /readyz /config /drift"),
      uint_flag("threads", &C::threads, 256, "I/O threads (0 = CPUs allowed by the cgroup quota)"),
      string_flag("model", &C::model, "model label when the request path names none"),
      string_flag("model-version", &C::model_version,
                  "version label when the request path names none"),
      string_flag("ready-path", &C::ready_path,
                  "model readiness path probed with GET (empty: TCP connect)"),
      duration_flag("ready-interval", &C::ready_interval,
                    "how often the model's readiness is probed"),
      uint_flag("max-header-bytes", &C::max_header_bytes, 1 << 20,
                "request head size limit (431 beyond)"),
      uint_flag("max-body-bytes", &C::max_body_bytes, UINT64_MAX,
                "request body size limit, 0 = none (413 beyond)"),
      uint_flag("max-connections", &C::max_connections, 1000000, "open client connections at most"),
      duration_flag("header-timeout", &C::header_timeout, "time to receive a request head"),
      duration_flag("idle-timeout", &C::idle_timeout,
                    "client keep-alive idle time and body/write progress timeout"),
      duration_flag("connect-timeout", &C::connect_timeout, "time to connect to the model"),
      duration_flag("upstream-timeout", &C::upstream_timeout,
                    "time for the model to start its response (504 beyond)"),
      duration_flag("upstream-idle-timeout", &C::upstream_idle_timeout,
                    "pooled model connections idle longer are closed"),
      uint_flag("upstream-max-idle", &C::upstream_max_idle, 100000,
                "pooled idle model connections per thread"),
      duration_flag("drain-seconds", &C::drain,
                    "after SIGTERM, keep serving (not ready) this long"),
      duration_flag("shutdown-timeout", &C::shutdown_timeout,
                    "then wait at most this long for requests in flight"),
      uint_flag("container-concurrency", &C::container_concurrency, 1000000,
                "requests in flight to the model at most, 0 = unlimited"),
      uint_flag("queue-depth", &C::queue_depth, 1000000,
                "requests that may wait for a slot beyond that")
          .default_text("10 per --container-concurrency slot"),
      duration_flag("queue-timeout", &C::queue_timeout, "longest wait in the queue (503 beyond)"),
      number_flag("target-concurrency", &C::target_concurrency, 0, 1e6,
                  "concurrency per replica that is load ratio 1.0"),
      number_flag("latency-slo-seconds", &C::latency_slo_seconds, 0, 1e5,
                  "latency SLO that feeds the load ratio, 0 = off"),
      number_flag("latency-slo-quantile", &C::latency_slo_quantile, 0.5, 0.9999,
                  "quantile of the latency SLO"),
      number_flag("target-output-tokens-per-second", &C::target_output_tokens_per_second, 0, 1e9,
                  "output tokens/s per replica that is load ratio 1.0, 0 = off"),
      string_flag("drift-profile", &C::drift_profile,
                  "reference profile JSON (mlsidecar profile); empty = drift off"),
      uint_flag("drift-window", &C::drift_window, 1000000, "recent values kept per feature")
          .at_least(1),
      duration_flag("drift-interval", &C::drift_interval,
                    "how often drift statistics are computed"),
      number_flag("drift-sample-rate", &C::drift_sample_rate, 0, 1,
                  "fraction of bodies handed to the drift worker"),
      uint_flag("drift-max-body", &C::drift_max_body, 1ull << 30, "larger bodies are not sampled"),
      uint_flag("drift-max-features", &C::drift_max_features, 100000, "features tracked at most"),
      cli::choice_flag("drift-format", &C::drift_format, drift_formats(),
                       "payload format of the bodies drift reads"),
      uint_flag("max-models", &C::max_models, 10000,
                "distinct model/version labels before folding into 'other'")
          .at_least(2),
      cli::choice_flag("log-level", &C::log_level,
                       {"trace", "debug", "info", "warn", "error", "off"},
                       "log lines at least this severe"),
      number_flag("access-log-sample", &C::access_log_sample, 0, 1,
                  "fraction of requests written to the access log"),
      string_flag("merge-metrics", &C::merge_metrics,
                  "the model's own metrics URL (http://127.0.0.1:PORT/metrics), appended to "
                  "/metrics at each scrape; empty = off"),
      duration_flag("merge-metrics-timeout", &C::merge_metrics_timeout,
                    "longest wait for the model's metrics at a scrape"),
      string_flag("grpc-upstream", &C::grpc_upstream,
                  "the model's gRPC port, HOST:PORT (HTTP/2 cleartext): where gRPC calls to the "
                  "data port go; empty = none (they are answered UNAVAILABLE)")
          .value_name("HOST:PORT"),
      string_flag("grpc-listen", &C::grpc_listen,
                  "a second data port, HOST:PORT, for clients of the model's gRPC port when "
                  "capture takes its port name; empty = none")
          .value_name("HOST:PORT"),
      cli::choice_flag("ready-grpc", &C::ready_grpc, {"off", "health", "v2"},
                       "readiness of a gRPC-only model on --grpc-upstream instead of --ready-path: "
                       "health (grpc.health.v1 Check) or v2 (ServerReady)"),
      string_flag("ready-grpc-service", &C::ready_grpc_service,
                  "the service name --ready-grpc health asks about (empty: the whole server)"),
      uint_flag("h2-max-streams", &C::h2_max_streams, 65535,
                "concurrent HTTP/2 streams per client connection (SETTINGS_MAX_CONCURRENT_STREAMS)")
          .at_least(1),
      uint_flag("grpc-max-message-bytes", &C::grpc_max_message_bytes, UINT32_MAX,
                "largest gRPC request message (RESOURCE_EXHAUSTED beyond)")
          .at_least(1),
      string_flag("shadow-upstream", &C::shadow_upstream,
                  "the shadow model, HOST:PORT: a copy of a sampled fraction of predict, infer "
                  "and generate requests goes there and its answer is compared with the "
                  "model's; the client gets only the model's; empty = off")
          .value_name("HOST:PORT"),
      number_flag("shadow-fraction", &C::shadow_fraction, 0, 1,
                  "fraction of model calls copied to the shadow"),
      version_flag("shadow-version", &C::shadow_version,
                   "the version label of the shadow's metrics (mlsidecar_shadow_*)"),
      uint_flag("shadow-max-body", &C::shadow_max_body, 1ull << 30,
                "larger requests are not copied; answers are read up to this size")
          .at_least(1),
      number_flag("shadow-max-rps", &C::shadow_max_rps, 0, 1e6,
                  "copies per second at most, all I/O threads together; beyond, copies are "
                  "dropped (0 = no cap)"),
      duration_flag("shadow-timeout", &C::shadow_timeout,
                    "longest exchange with the shadow (connect, send, answer)"),
      comma_list_flag("shadow-class-outputs", &C::shadow_class_outputs,
                      "outputs compared as class labels, comma-separated"),
      comma_list_flag("shadow-argmax-outputs", &C::shadow_argmax_outputs,
                      "outputs that are probability vectors, their argmax compared; "
                      "comma-separated"),
  };
}

}  // namespace

const cli::FlagSet<Config>& serve_flags() {
  static const cli::FlagSet<Config> flags(
      cli::CommandInfo{
          .name = "", .usage = kUsage, .description = kDescription, .config_file = true},
      flag_table());
  return flags;
}

void apply_serve_flag(Config& config, std::string_view name, const std::string& value) {
  serve_flags().set(config, name, value);
}

std::size_t queue_depth_of(const Config& c) {
  if (c.queue_depth != kQueueDepthAuto) return c.queue_depth;
  return kQueueDepthPerSlot * c.container_concurrency;
}

const std::vector<std::string_view>& per_pod_flags() {
  static const std::vector<std::string_view> names = {"threads",
                                                      "ready-path",
                                                      "ready-interval",
                                                      "max-header-bytes",
                                                      "max-body-bytes",
                                                      "max-connections",
                                                      "header-timeout",
                                                      "idle-timeout",
                                                      "connect-timeout",
                                                      "upstream-timeout",
                                                      "upstream-idle-timeout",
                                                      "upstream-max-idle",
                                                      "container-concurrency",
                                                      "queue-depth",
                                                      "queue-timeout",
                                                      "target-concurrency",
                                                      "latency-slo-seconds",
                                                      "latency-slo-quantile",
                                                      "target-output-tokens-per-second",
                                                      "drift-window",
                                                      "drift-interval",
                                                      "drift-sample-rate",
                                                      "drift-max-body",
                                                      "drift-max-features",
                                                      "drift-format",
                                                      "max-models",
                                                      "log-level",
                                                      "access-log-sample",
                                                      "merge-metrics",
                                                      "merge-metrics-timeout",
                                                      "grpc-upstream",
                                                      "grpc-listen",
                                                      "ready-grpc",
                                                      "ready-grpc-service",
                                                      "h2-max-streams",
                                                      "grpc-max-message-bytes",
                                                      "shadow-upstream",
                                                      "shadow-fraction",
                                                      "shadow-version",
                                                      "shadow-max-body",
                                                      "shadow-max-rps",
                                                      "shadow-timeout",
                                                      "shadow-class-outputs",
                                                      "shadow-argmax-outputs"};
  return names;
}

namespace {

// HOST:PORT (empty: off). A listening address may take port 0 and an empty host (all addresses).
void check_host_port(const char* flag, const std::string& value, bool listening) {
  if (value.empty()) return;
  const std::size_t colon = value.rfind(':');
  const std::string port = colon == std::string::npos ? std::string() : value.substr(colon + 1);
  const bool numeric = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string::npos;
  const int number = numeric ? std::stoi(port) : -1;
  if ((!listening && colon == 0) || number < (listening ? 0 : 1) || number > 65535) {
    throw ConfigError(std::string(flag) + " '" + value + "': expected HOST:PORT");
  }
}

}  // namespace

void validate_config(const Config& c) {
  if (c.queue_depth != kQueueDepthAuto && c.queue_depth > 0 && c.container_concurrency == 0) {
    throw ConfigError("--queue-depth needs --container-concurrency (a queue needs a limit)");
  }
  if (!c.ready_path.empty() && c.ready_path.front() != '/') {
    throw ConfigError("--ready-path '" + c.ready_path + "': must start with /");
  }
  check_host_port("--grpc-upstream", c.grpc_upstream, false);
  check_host_port("--grpc-listen", c.grpc_listen, true);
  check_host_port("--shadow-upstream", c.shadow_upstream, false);
  if (c.ready_grpc_service.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/") !=
      std::string::npos) {
    throw ConfigError("--ready-grpc-service '" + c.ready_grpc_service +
                      "': a gRPC service name has letters, digits, '_', '.', '-' and '/' only");
  }
  if (c.ready_grpc != "off" && c.grpc_upstream.empty()) {
    throw ConfigError("--ready-grpc " + c.ready_grpc + " needs --grpc-upstream (where to ask)");
  }
  if (!c.merge_metrics.empty() && !parse_metrics_url(c.merge_metrics)) {
    throw ConfigError("--merge-metrics '" + c.merge_metrics +
                      "': expected http://ADDRESS:PORT/PATH with an IP address or localhost");
  }
}

ParseResult parse_config(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env) {
  ParseResult result;
  cli::ParseOutcome outcome = serve_flags().parse(args, env, result.config);
  result.help = outcome.help;
  if (result.help) return result;
  result.config.config_file = outcome.config_file;
  validate_config(result.config);
  result.config.queue_depth = queue_depth_of(result.config);
  return result;
}

namespace {
std::optional<Endpoint> endpoint_of(const std::string& value) {
  if (value.empty()) return std::nullopt;
  const std::size_t colon = value.rfind(':');
  Endpoint e;
  e.host = value.substr(0, colon);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  if (e.host.empty()) e.host = "0.0.0.0";
  e.port = static_cast<std::uint16_t>(std::stoi(value.substr(colon + 1)));
  return e;
}
}  // namespace

std::optional<Endpoint> grpc_upstream_of(const Config& config) {
  return endpoint_of(config.grpc_upstream);
}

std::optional<Endpoint> grpc_listen_of(const Config& config) {
  return endpoint_of(config.grpc_listen);
}

std::optional<Endpoint> shadow_upstream_of(const Config& config) {
  return endpoint_of(config.shadow_upstream);
}

std::string config_help() { return serve_flags().help(); }

std::string config_to_json(const Config& config) {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& [name, value] : serve_flags().values(config)) doc[name] = value;
  doc["config"] = config.config_file;
  doc["threads_effective"] = config.threads;
  // Flag values are bytes from the command line or the environment, not necessarily UTF-8: shown
  // with U+FFFD rather than throwing from dump().
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

unsigned available_cpus() {
  // cgroup v2: "max 100000" or "200000 100000"; cgroup v1: cfs_quota_us and cfs_period_us.
  double quota_cpus = 0;
  if (std::ifstream v2("/sys/fs/cgroup/cpu.max"); v2) {
    std::string quota;
    double period = 0;
    if (v2 >> quota >> period && quota != "max" && period > 0) {
      quota_cpus = std::stod(quota) / period;
    }
  } else {
    std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    double quota = 0, period = 0;
    if (q >> quota && p >> period && quota > 0 && period > 0) quota_cpus = quota / period;
  }
  cpu_set_t set;
  unsigned affinity = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = std::max(1, CPU_COUNT(&set));
  unsigned cpus = affinity;
  if (quota_cpus > 0) cpus = std::min(affinity, static_cast<unsigned>(std::ceil(quota_cpus)));
  return std::max(1u, cpus);
}

}  // namespace mlsidecar
