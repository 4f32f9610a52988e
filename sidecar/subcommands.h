// The commands of the mlsidecar executable: `serve` (the default, also when the first argument is
// a flag or there is none), `profile` (drift), `simulate` (simulator), `inject`, `uninject` and
// `webhook` (injection), and `version`. Each parses its arguments with its own cli::FlagSet.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar {

// Runs the command named by args[0] (or serve) and returns the process's exit code: 0 success,
// 1 a failure at run time, 2 a usage error (one line on stderr).
int run_mlsidecar(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar
