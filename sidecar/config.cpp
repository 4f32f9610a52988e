#include "sidecar/config.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

namespace mlsidecar {
namespace {

using Ms = std::chrono::milliseconds;

[[noreturn]] void fail(const std::string& flag, const std::string& value, const std::string& why) {
  throw ConfigError("--" + flag + " '" + value + "': " + why);
}

std::uint64_t parse_uint(const std::string& flag, const std::string& v, std::uint64_t max) {
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size() || v.empty()) {
    fail(flag, v, "expected a whole number");
  }
  if (out > max) fail(flag, v, "must be at most " + std::to_string(max));
  return out;
}

double parse_double(const std::string& flag, const std::string& v, double lo, double hi) {
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size() || v.empty() || !std::isfinite(out)) {
    fail(flag, v, "expected a number");
  }
  if (out < lo || out > hi) {
    std::ostringstream range;
    range << "must be between " << lo << " and " << hi;
    fail(flag, v, range.str());
  }
  return out;
}

// "250ms", "30s", "5m", "1h", or a bare number of seconds ("2.5").
Ms parse_duration(const std::string& flag, const std::string& v) {
  std::size_t unit_at = v.find_first_not_of("0123456789.");
  std::string number = v.substr(0, unit_at);
  std::string unit = unit_at == std::string::npos ? "s" : v.substr(unit_at);
  double scale = unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : -1;
  if (scale < 0 || number.empty()) fail(flag, v, "expected a duration such as 500ms, 30s or 5m");
  double value = parse_double(flag, number, 0, 1e9);
  return Ms(static_cast<std::int64_t>(std::llround(value * scale)));
}

Endpoint parse_endpoint(const std::string& flag, const std::string& v) {
  std::size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon + 1 == v.size()) fail(flag, v, "expected HOST:PORT");
  Endpoint e;
  e.host = v.substr(0, colon);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  if (e.host.empty()) e.host = "0.0.0.0";
  e.port = static_cast<std::uint16_t>(parse_uint(flag, v.substr(colon + 1), 65535));
  return e;
}

std::string show(Ms d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}
std::string show(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

struct Flag {
  const char* name;
  const char* help;
  std::function<void(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> get;
};

#define MLS_ENDPOINT(field)                                                                   \
  [](Config& c, const std::string& v) { c.field = parse_endpoint(#field, v); },               \
      [](const Config& c) { return c.field.to_string(); }
#define MLS_DURATION(flag, field)                                                             \
  [](Config& c, const std::string& v) { c.field = parse_duration(flag, v); },                 \
      [](const Config& c) { return show(c.field); }
#define MLS_UINT(flag, field, max)                                                            \
  [](Config& c, const std::string& v) { c.field = parse_uint(flag, v, max); },                \
      [](const Config& c) { return std::to_string(c.field); }
#define MLS_DOUBLE(flag, field, lo, hi)                                                       \
  [](Config& c, const std::string& v) { c.field = parse_double(flag, v, lo, hi); },           \
      [](const Config& c) { return show(c.field); }
#define MLS_STRING(field)                                                                     \
  [](Config& c, const std::string& v) { c.field = v; }, [](const Config& c) { return c.field; }

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"listen", "data port address the clients call", MLS_ENDPOINT(listen)},
      {"upstream", "the model server, HOST:PORT", MLS_ENDPOINT(upstream)},
      {"admin", "admin port: /metrics /healthz /readyz /config /drift", MLS_ENDPOINT(admin)},
      {"threads", "I/O threads (0 = CPUs allowed by the cgroup quota)", MLS_UINT("threads", threads, 256)},
      {"model", "model label when the request path names none", MLS_STRING(model)},
      {"model-version", "version label when the request path names none", MLS_STRING(model_version)},
      {"ready-path", "model readiness path probed with GET (empty: TCP connect)", MLS_STRING(ready_path)},
      {"ready-interval", "how often the model's readiness is probed", MLS_DURATION("ready-interval", ready_interval)},
      {"max-header-bytes", "request head size limit (431 beyond)", MLS_UINT("max-header-bytes", max_header_bytes, 1 << 20)},
      {"max-body-bytes", "request body size limit, 0 = none (413 beyond)", MLS_UINT("max-body-bytes", max_body_bytes, UINT64_MAX)},
      {"max-connections", "open client connections at most", MLS_UINT("max-connections", max_connections, 1000000)},
      {"header-timeout", "time to receive a request head", MLS_DURATION("header-timeout", header_timeout)},
      {"idle-timeout", "client keep-alive idle time and body/write progress timeout", MLS_DURATION("idle-timeout", idle_timeout)},
      {"connect-timeout", "time to connect to the model", MLS_DURATION("connect-timeout", connect_timeout)},
      {"upstream-timeout", "time for the model to start its response (504 beyond)", MLS_DURATION("upstream-timeout", upstream_timeout)},
      {"upstream-idle-timeout", "pooled model connections idle longer are closed", MLS_DURATION("upstream-idle-timeout", upstream_idle_timeout)},
      {"upstream-max-idle", "pooled idle model connections per thread", MLS_UINT("upstream-max-idle", upstream_max_idle, 100000)},
      {"drain-seconds", "after SIGTERM, keep serving (not ready) this long", MLS_DURATION("drain-seconds", drain)},
      {"shutdown-timeout", "then wait at most this long for requests in flight", MLS_DURATION("shutdown-timeout", shutdown_timeout)},
      {"container-concurrency", "requests in flight to the model at most, 0 = unlimited", MLS_UINT("container-concurrency", container_concurrency, 1000000)},
      {"queue-depth", "requests that may wait for a slot beyond that", MLS_UINT("queue-depth", queue_depth, 1000000)},
      {"queue-timeout", "longest wait in the queue (503 beyond)", MLS_DURATION("queue-timeout", queue_timeout)},
      {"target-concurrency", "concurrency per replica that is load ratio 1.0", MLS_DOUBLE("target-concurrency", target_concurrency, 0, 1e6)},
      {"latency-slo-seconds", "latency SLO that feeds the load ratio, 0 = off", MLS_DOUBLE("latency-slo-seconds", latency_slo_seconds, 0, 1e5)},
      {"latency-slo-quantile", "quantile of the latency SLO", MLS_DOUBLE("latency-slo-quantile", latency_slo_quantile, 0.5, 0.9999)},
      {"target-output-tokens-per-second", "output tokens/s per replica that is load ratio 1.0, 0 = off", MLS_DOUBLE("target-output-tokens-per-second", target_output_tokens_per_second, 0, 1e9)},
      {"drift-profile", "reference profile JSON (mlsidecar profile); empty = drift off", MLS_STRING(drift_profile)},
      {"drift-window", "recent values kept per feature", MLS_UINT("drift-window", drift_window, 1000000)},
      {"drift-interval", "how often drift statistics are computed", MLS_DURATION("drift-interval", drift_interval)},
      {"drift-sample-rate", "fraction of bodies handed to the drift worker", MLS_DOUBLE("drift-sample-rate", drift_sample_rate, 0, 1)},
      {"drift-max-body", "larger bodies are not sampled", MLS_UINT("drift-max-body", drift_max_body, 1ull << 30)},
      {"drift-max-features", "features tracked at most", MLS_UINT("drift-max-features", drift_max_features, 100000)},
      {"drift-format", "payload format: auto, kserve-v1, v2, tf-serving, openai", MLS_STRING(drift_format)},
      {"max-models", "distinct model/version labels before folding into 'other'", MLS_UINT("max-models", max_models, 10000)},
      {"log-level", "trace, debug, info, warn, error, off", MLS_STRING(log_level)},
      {"access-log-sample", "fraction of requests written to the access log", MLS_DOUBLE("access-log-sample", access_log_sample, 0, 1)},
  };
  return table;
}

std::string env_name(const std::string& flag) {
  std::string out = "MLSIDECAR_";
  for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

const Flag* find_flag(const std::string& name) {
  for (const Flag& f : flags()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

void apply_file(Config& config, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config '" + path + "': cannot read the file");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in, nullptr, false);
  } catch (const std::exception&) {  // the stream itself failed, e.g. the path is a directory
    throw ConfigError("--config '" + path + "': cannot read the file");
  }
  if (doc.is_discarded() || !doc.is_object()) {
    throw ConfigError("--config '" + path + "': not a JSON object");
  }
  for (auto& [key, value] : doc.items()) {
    const Flag* f = find_flag(key);
    if (!f) throw ConfigError("--config '" + path + "': unknown setting '" + key + "'");
    f->set(config, value.is_string() ? value.get<std::string>() : value.dump());
  }
  config.config_file = path;
}

void validate(const Config& c) {
  if (c.queue_depth > 0 && c.container_concurrency == 0) {
    throw ConfigError("--queue-depth needs --container-concurrency (a queue needs a limit)");
  }
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    throw ConfigError("--log-level '" + c.log_level + "': expected trace, debug, info, warn, error or off");
  }
  static const char* kFormats[] = {"auto", "kserve-v1", "v2", "tf-serving", "openai"};
  if (std::find(std::begin(kFormats), std::end(kFormats), c.drift_format) == std::end(kFormats)) {
    throw ConfigError("--drift-format '" + c.drift_format + "': expected auto, kserve-v1, v2, tf-serving or openai");
  }
  if (c.ready_path.size() && c.ready_path.front() != '/') {
    throw ConfigError("--ready-path '" + c.ready_path + "': must start with /");
  }
  if (c.drift_window == 0) throw ConfigError("--drift-window: must be at least 1");
  if (c.max_models < 2) throw ConfigError("--max-models: must be at least 2");
}

}  // namespace

std::string Endpoint::to_string() const {
  // Brackets for an IPv6 address, and for a host that itself starts with one, so that
  // parse_endpoint reads the text back to the same host.
  bool bracket = host.find(':') != std::string::npos || (!host.empty() && host.front() == '[');
  return (bracket ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ParseResult parse_config(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env) {
  ParseResult result;
  // Split "--name=value" and "--name value" first, so that --config can be applied before the rest.
  std::vector<std::pair<std::string, std::string>> given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      throw ConfigError("unexpected argument '" + arg + "' (flags start with --; see --help)");
    }
    std::string name = arg.substr(2), value;
    std::size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) throw ConfigError("--" + name + " needs a value");
      value = args[++i];
    }
    if (name != "config" && !find_flag(name)) {
      throw ConfigError("unknown flag --" + name + " (see --help)");
    }
    given.emplace_back(name, value);
  }
  std::string file;
  if (auto it = env.find("MLSIDECAR_CONFIG"); it != env.end()) file = it->second;
  for (auto& [name, value] : given) {
    if (name == "config") file = value;
  }
  if (!file.empty()) apply_file(result.config, file);
  for (const Flag& f : flags()) {
    if (auto it = env.find(env_name(f.name)); it != env.end()) {
      try {
        f.set(result.config, it->second);
      } catch (const ConfigError& e) {
        throw ConfigError(env_name(f.name) + ": " + e.what());
      }
    }
  }
  for (auto& [name, value] : given) {
    if (name != "config") find_flag(name)->set(result.config, value);
  }
  validate(result.config);
  return result;
}

std::string config_help() {
  std::ostringstream out;
  Config defaults;
  out << "usage: mlsidecar [serve] [--flag value]...\n"
         "       mlsidecar profile|simulate|inject|uninject|webhook --help\n\n"
         "A sidecar proxy for model servers: forwards every request to the model, publishes\n"
         "Prometheus metrics (latency, concurrency, drift) on the admin port.\n\n"
         "Flags (each also read from the environment variable shown; flags win over the\n"
         "environment, the environment over --config FILE, a JSON object of flag names):\n";
  out << "  --config FILE\n      JSON file of settings (MLSIDECAR_CONFIG)\n";
  for (const Flag& f : flags()) {
    out << "  --" << f.name << " (" << env_name(f.name) << ", default '" << f.get(defaults)
        << "')\n      " << f.help << "\n";
  }
  return out.str();
}

std::string config_to_json(const Config& config) {
  nlohmann::json doc = nlohmann::json::object();
  for (const Flag& f : flags()) doc[f.name] = f.get(config);
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
    std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
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
