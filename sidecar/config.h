// The sidecar's configuration: one typed struct, parsed and validated once at start-up from (in
// increasing precedence) a JSON config file, MLSIDECAR_* environment variables and command-line
// flags. Nothing else in the process reads flags or the environment.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar {

// A configuration mistake: one line for the user; main turns it into exit code 2.
using ConfigError = cli::UsageError;

// --queue-depth when not given: as Knative's queue-proxy, 10 waiting requests per slot of
// --container-concurrency, and none without a limit.
inline constexpr std::size_t kQueueDepthAuto = static_cast<std::size_t>(-1);
inline constexpr std::size_t kQueueDepthPerSlot = 10;

struct Config {
  Endpoint listen{"0.0.0.0", 8080};
  Endpoint upstream{"127.0.0.1", 8081};
  Endpoint admin{"0.0.0.0", 9090};
  unsigned threads = 0;  // 0 = the CPUs the container may use (cgroup quota), at least 1
  std::string model = "default";
  std::string model_version = "";
  std::string ready_path;  // model readiness path; empty = a TCP connect is enough
  std::chrono::milliseconds ready_interval{1000};

  // Limits and timeouts.
  std::size_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 1024ull * 1024 * 1024;  // 0 = unlimited
  std::size_t max_connections = 10000;                   // per process
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};  // client keep-alive and body/write progress
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds upstream_timeout{600000};  // to the model's response head
  std::chrono::milliseconds upstream_idle_timeout{60000};
  std::size_t upstream_max_idle = 256;  // pooled connections per thread

  // Shutdown.
  std::chrono::milliseconds drain{5000};
  std::chrono::milliseconds shutdown_timeout{30000};

  // Admission and autoscaling signals (policies/).
  std::size_t container_concurrency = 0;      // 0 = unlimited
  std::size_t queue_depth = kQueueDepthAuto;  // resolved by parse_config (queue_depth_of)
  std::chrono::milliseconds queue_timeout{10000};
  double target_concurrency = 0;  // 0 = 70% of container_concurrency, or 100 when unlimited
  double latency_slo_seconds = 0;
  double latency_slo_quantile = 0.99;
  double target_output_tokens_per_second = 0;

  // Drift (metrics/drift/).
  std::string drift_profile;
  std::size_t drift_window = 1000;
  std::chrono::milliseconds drift_interval{10000};
  double drift_sample_rate = 1.0;
  std::size_t drift_max_body = 1024 * 1024;
  std::size_t drift_max_features = 256;
  std::string drift_format = "auto";

  // Metrics and logging.
  std::size_t max_models = 32;  // distinct model/version label pairs before folding into "other"
  std::string log_level = "info";
  double access_log_sample = 0;  // fraction of requests logged

  // The model's own metrics, appended to /metrics (empty: off).
  std::string merge_metrics;
  std::chrono::milliseconds merge_metrics_timeout{2000};

  // HTTP/2 and gRPC on the data port (docs/http2.md). gRPC calls go to grpc_upstream (HOST:PORT,
  // HTTP/2 cleartext); empty: they are answered UNAVAILABLE.
  std::string grpc_upstream;
  // A second port with the data port's behaviour (capture by port name of a gRPC port); empty:
  // none.
  std::string grpc_listen;
  // Readiness of a model that serves only gRPC, asked on grpc_upstream instead of ready_path:
  // "off", "health" (grpc.health.v1.Health/Check for ready_grpc_service) or "v2"
  // (inference.GRPCInferenceService/ServerReady).
  std::string ready_grpc = "off";
  std::string ready_grpc_service;
  std::uint32_t h2_max_streams = 100;  // concurrent streams per client connection
  std::uint32_t grpc_max_message_bytes = 4 * 1024 * 1024;  // RESOURCE_EXHAUSTED beyond

  // Shadow traffic (docs/shadow.md): a sampled copy of model calls sent to shadow_upstream
  // (HOST:PORT; empty: off), compared with the primary's answer off the request path.
  std::string shadow_upstream;
  double shadow_fraction = 0.1;
  std::string shadow_version = "shadow";
  std::size_t shadow_max_body = 1024 * 1024;  // larger requests are not copied
  double shadow_max_rps = 50;                 // copies per second, all I/O threads together
  std::chrono::milliseconds shadow_timeout{10000};
  std::vector<std::string> shadow_class_outputs;   // compared as labels
  std::vector<std::string> shadow_argmax_outputs;  // probability vectors: argmax compared

  std::string config_file;  // where the file layer came from, if any
};

// grpc_upstream and grpc_listen as addresses; nullopt when empty. validate_config() has checked
// their form.
std::optional<Endpoint> grpc_upstream_of(const Config& config);
std::optional<Endpoint> grpc_listen_of(const Config& config);
std::optional<Endpoint> shadow_upstream_of(const Config& config);

// Parses `args` (without the program name and subcommand) on top of `env` (name -> value, only
// MLSIDECAR_* is read) and validates the result. Throws ConfigError. `help` is set, and nothing
// else parsed, when --help or -h is among the arguments.
struct ParseResult {
  Config config;
  bool help = false;
};
ParseResult parse_config(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env);

// The flags of `serve`, one per Config field: the one definition behind parse_config,
// config_help, config_to_json and apply_serve_flag.
const cli::FlagSet<Config>& serve_flags();

// Sets one `serve` flag by name (without the dashes) on `config`, as `--name value` would; throws
// ConfigError naming the flag. For settings that arrive one by one, such as a pod annotation
// mlsidecar.io/<flag>. Cross-flag rules are checked by validate_config.
void apply_serve_flag(Config& config, std::string_view name, const std::string& value);

// The rules that involve several flags (--queue-depth needs --container-concurrency, ...).
void validate_config(const Config& config);

// The queue depth in effect: --queue-depth, or when not given kQueueDepthPerSlot per slot of
// --container-concurrency (0 without a limit). parse_config stores it in the Config it returns.
std::size_t queue_depth_of(const Config& config);

// The serve flags a pod may set by annotation (mlsidecar.io/<flag>): the per-pod limits, timeouts,
// autoscaling targets, drift and metrics settings; not the ports, the model's address or identity,
// which injection decides.
const std::vector<std::string_view>& per_pod_flags();

// The --help text: every flag, its environment variable and its default.
std::string config_help();

// The effective configuration as JSON (for /config); holds no secrets.
std::string config_to_json(const Config& config);

// CPUs this container may use: the cgroup v2/v1 CPU quota, else the affinity mask.
unsigned available_cpus();

}  // namespace mlsidecar
