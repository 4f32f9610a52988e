#include "sidecar/subcommands.h"

#include <cstdio>
#include <exception>

#include "sidecar/capture/capture_command.h"
#include "sidecar/config.h"
#include "sidecar/drift_report_command.h"
#include "sidecar/inject/commands.h"
#include "sidecar/profile_command.h"
#include "sidecar/sidecar.h"
#include "simulator/simulate_command.h"

namespace mlsidecar {
namespace {

using Args = std::vector<std::string>;

int run_serve(const Args& args, const cli::Environment& env) {
  try {
    ParseResult parsed = parse_config(args, env);
    if (parsed.help) return cli::print_help(config_help());
    return serve(parsed.config);
  } catch (const ConfigError& e) {
    return cli::report_usage_error(serve_flags().info(), e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlsidecar: %s\n", e.what());
    return 1;
  }
}

int run_version(const Args&, const cli::Environment&) {
  std::printf("mlsidecar %s\n", MLSIDECAR_VERSION);
  return 0;
}

struct Command {
  const char* name;
  int (*run)(const Args& args, const cli::Environment& env);
};

constexpr Command kCommands[] = {
    {"serve", run_serve},
    {"profile", drift::run_profile_command},
    {"drift-report", drift::run_drift_report_command},
    {"simulate", policies::run_simulate_command},
    {"inject", inject::run_inject_command},
    {"uninject", inject::run_uninject_command},
    {"webhook", inject::run_webhook_command},
    {"autoscale", inject::run_autoscale_command},
    {"capture-init", capture::run_capture_init_command},
    {"version", run_version},
};

}  // namespace

int run_mlsidecar(const Args& args, const cli::Environment& env) {
  if (args.empty() || args[0].starts_with('-')) {
    if (!args.empty() && args[0] == "--version") return run_version(args, env);
    return run_serve(args, env);
  }
  for (const Command& command : kCommands) {
    if (args[0] == command.name) return command.run(Args(args.begin() + 1, args.end()), env);
  }
  std::fprintf(stderr, "mlsidecar: unknown command '%s' (see mlsidecar --help)\n", args[0].c_str());
  return 2;
}

}  // namespace mlsidecar
