// mlsidecar: the command-line entry point. Dispatches the subcommand; `serve` is the default.
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/sidecar.h"
#include "sidecar/subcommands.h"

extern char** environ;

namespace {

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq && std::strncmp(*e, "MLSIDECAR_", 10) == 0) env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), eq + 1);
  }
  return env;
}

int run_serve(int argc, char** argv) {
  try {
    auto parsed = mlsidecar::parse_config(std::vector<std::string>(argv, argv + argc), environment());
    if (parsed.help) {
      std::fputs(mlsidecar::config_help().c_str(), stdout);
      return 0;
    }
    return mlsidecar::serve(parsed.config);
  } catch (const mlsidecar::ConfigError& e) {
    std::fprintf(stderr, "mlsidecar: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlsidecar: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "--version" || command == "version") {
    std::printf("mlsidecar %s\n", MLSIDECAR_VERSION);
    return 0;
  }
  if (command == "serve") return run_serve(argc - 2, argv + 2);
  if (command.rfind("-", 0) == 0) return run_serve(argc - 1, argv + 1);
  if (int code; mlsidecar::run_subcommand(command, argc - 1, argv + 1, code)) return code;
  std::fprintf(stderr, "mlsidecar: unknown command '%s' (see mlsidecar --help)\n", command.c_str());
  return 2;
}
