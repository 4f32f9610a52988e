// The subcommands other than `serve`, each owned by its part of the tree: `profile` (drift),
// `simulate` (policies), `inject`, `uninject` and `webhook` (injection).
#pragma once

#include <string>

namespace mlsidecar {

// Runs `command` with argv[0] == command; false when no such command is built in.
bool run_subcommand(const std::string& command, int argc, char** argv, int& exit_code);

}  // namespace mlsidecar
