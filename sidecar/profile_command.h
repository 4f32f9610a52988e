// `mlsidecar profile`: builds a drift reference profile from training data.
//
//   mlsidecar profile --input train.csv --output profile.json [--bins 10] [--top-k 20] ...
//
// `args` are the arguments after "profile". Returns 0 on success; 2 with one line on stderr for
// bad flags or bad input; `--help` prints the usage on stdout and returns 0. The flags read no
// environment: an offline tool is told what to do by its command line alone.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::drift {

int run_profile_command(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar::drift
