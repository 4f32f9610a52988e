#include "sidecar/subcommands.h"

#include "metrics/drift/profile/profile_command.h"
#include "sidecar/inject/commands.h"
#include "simulator/simulate_command.h"

namespace mlsidecar {

bool run_subcommand(const std::string& command, int argc, char** argv, int& exit_code) {
  if (command == "profile") return exit_code = drift::run_profile_command(argc, argv), true;
  if (command == "simulate") return exit_code = policies::run_simulate_command(argc, argv), true;
  if (command == "inject") return exit_code = inject::run_inject_command(argc, argv), true;
  if (command == "uninject") return exit_code = inject::run_uninject_command(argc, argv), true;
  if (command == "webhook") return exit_code = inject::run_webhook_command(argc, argv), true;
  return false;
}

}  // namespace mlsidecar
