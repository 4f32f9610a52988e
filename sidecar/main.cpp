// mlsidecar: the command-line entry point. See subcommands.h for the commands.
#include <string>
#include <vector>

#include "sidecar/cli/flags.h"
#include "sidecar/subcommands.h"

int main(int argc, char** argv) {
  return mlsidecar::run_mlsidecar(std::vector<std::string>(argv + 1, argv + argc),
                                  mlsidecar::cli::process_environment());
}
