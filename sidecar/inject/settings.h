// Injection settings: the defaults a platform team chooses once (image, ports, resources, timing),
// which per-pod annotations may override. One typed struct, parsed once from flags and environment
// by parse_settings(); the injection core only reads it.
//
// Thread-safety: a plain value; share it read-only.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlsidecar::inject {

struct InjectionSettings {
  std::string image = "mlsidecar:0.1.0";
  std::string image_pull_policy = "IfNotPresent";
  std::string container_name = "mlsidecar";
  bool native = true;     // init container with restartPolicy: Always
  int data_port = 8080;   // preferred; moved up to the next free port on collision
  int admin_port = 9090;  // preferred; likewise
  std::string cpu_request = "100m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "256Mi";
  int drain_seconds = 5;
  int shutdown_timeout_seconds = 30;
  // preStop sleep added to the model container so it outlives endpoint removal; 0 adds nothing.
  int model_prestop_sleep_seconds = 5;
  int run_as_user = 65532;
};

// Flags understood by parse_settings, with their help text, for --help output.
std::string settings_help();

// Reads settings from `--flag value` / `--flag=value` arguments, falling back to the environment
// variable MLSIDECAR_<FLAG> (upper case, dashes as underscores), then to the defaults. Arguments it
// does not know are returned in `rest` in order. Throws std::invalid_argument with a one-line
// message for a bad value.
struct ParsedSettings {
  InjectionSettings settings;
  std::vector<std::string> rest;
};
ParsedSettings parse_settings(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env);

// The process environment as a map, for parse_settings.
std::map<std::string, std::string> process_environment();

}  // namespace mlsidecar::inject
