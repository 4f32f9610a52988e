// `mlsidecar simulate`: the command-line front end of ScalingSimulator. `args` are the arguments
// after "simulate". Runs every requested signal choice on the same trace and prints a table;
// writes CSV and SVG on request. Exit codes: 0 done, 2 bad flags or unreadable input (one line on
// stderr). The flags read no environment: an offline tool is told what to do by its command line.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::policies {

int run_simulate_command(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar::policies
