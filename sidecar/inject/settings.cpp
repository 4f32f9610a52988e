// Parsing InjectionSettings from flags and environment. See settings.h.
#include "sidecar/inject/settings.h"

#include <charconv>
#include <functional>
#include <stdexcept>

extern char** environ;

namespace mlsidecar::inject {
namespace {

int parse_int(const std::string& flag, const std::string& value, int min, int max) {
  int out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size() || out < min || out > max) {
    throw std::invalid_argument("--" + flag + ": expected an integer in [" + std::to_string(min) +
                                ", " + std::to_string(max) + "], got \"" + value + "\"");
  }
  return out;
}

bool parse_bool(const std::string& flag, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  throw std::invalid_argument("--" + flag + ": expected true or false, got \"" + value + "\"");
}

struct FlagSpec {
  const char* name;
  const char* help;
  std::function<void(InjectionSettings&, const std::string&)> apply;
};

const std::vector<FlagSpec>& flag_specs() {
  static const std::vector<FlagSpec> specs = {
      {"image", "sidecar image (default mlsidecar:0.1.0)",
       [](InjectionSettings& s, const std::string& v) { s.image = v; }},
      {"image-pull-policy", "sidecar imagePullPolicy (default IfNotPresent)",
       [](InjectionSettings& s, const std::string& v) { s.image_pull_policy = v; }},
      {"native",
       "true: native sidecar (init container, restartPolicy Always); false: first "
       "ordinary container (default true)",
       [](InjectionSettings& s, const std::string& v) { s.native = parse_bool("native", v); }},
      {"data-port", "preferred sidecar data port (default 8080; next free one on collision)",
       [](InjectionSettings& s, const std::string& v) {
         s.data_port = parse_int("data-port", v, 1, 65535);
       }},
      {"admin-port", "preferred sidecar admin port (default 9090; next free one on collision)",
       [](InjectionSettings& s, const std::string& v) {
         s.admin_port = parse_int("admin-port", v, 1, 65535);
       }},
      {"cpu-request", "sidecar CPU request (default 100m)",
       [](InjectionSettings& s, const std::string& v) { s.cpu_request = v; }},
      {"cpu-limit", "sidecar CPU limit (default 1; empty for none)",
       [](InjectionSettings& s, const std::string& v) { s.cpu_limit = v; }},
      {"memory-request", "sidecar memory request (default 64Mi)",
       [](InjectionSettings& s, const std::string& v) { s.memory_request = v; }},
      {"memory-limit", "sidecar memory limit (default 256Mi; empty for none)",
       [](InjectionSettings& s, const std::string& v) { s.memory_limit = v; }},
      {"drain-seconds", "sidecar --drain-seconds (default 5)",
       [](InjectionSettings& s, const std::string& v) {
         s.drain_seconds = parse_int("drain-seconds", v, 0, 3600);
       }},
      {"shutdown-timeout", "sidecar --shutdown-timeout in seconds (default 30)",
       [](InjectionSettings& s, const std::string& v) {
         s.shutdown_timeout_seconds = parse_int("shutdown-timeout", v, 0, 3600);
       }},
      {"model-prestop-sleep",
       "preStop sleep added to the model container, seconds (default 5; "
       "0 leaves the model container untouched)",
       [](InjectionSettings& s, const std::string& v) {
         s.model_prestop_sleep_seconds = parse_int("model-prestop-sleep", v, 0, 3600);
       }},
  };
  return specs;
}

std::string env_name(const std::string& flag) {
  std::string out = "MLSIDECAR_";
  for (char c : flag) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return out;
}

}  // namespace

std::string settings_help() {
  std::string out;
  for (const auto& spec : flag_specs()) {
    out += "  --" + std::string(spec.name) + " V  " + spec.help + " [env " + env_name(spec.name) +
           "]\n";
  }
  return out;
}

ParsedSettings parse_settings(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env) {
  ParsedSettings out;
  std::map<std::string, std::string> given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const FlagSpec* match = nullptr;
    std::string value;
    for (const auto& spec : flag_specs()) {
      const std::string name = std::string("--") + spec.name;
      if (arg == name) {
        if (i + 1 >= args.size()) throw std::invalid_argument(name + ": missing value");
        match = &spec;
        value = args[++i];
      } else if (arg.rfind(name + "=", 0) == 0) {
        match = &spec;
        value = arg.substr(name.size() + 1);
      }
      if (match) break;
    }
    if (match) {
      given[match->name] = value;
    } else {
      out.rest.push_back(arg);
    }
  }
  for (const auto& spec : flag_specs()) {
    if (auto it = given.find(spec.name); it != given.end()) {
      spec.apply(out.settings, it->second);
    } else if (auto e = env.find(env_name(spec.name)); e != env.end()) {
      spec.apply(out.settings, e->second);
    }
  }
  return out;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) out.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

}  // namespace mlsidecar::inject
