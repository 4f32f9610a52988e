// `mlsidecar simulate`: the command-line front end of ScalingSimulator. argv[0] is "simulate".
// Runs every requested signal choice on the same trace and prints a table; writes CSV and SVG on
// request. Exit codes: 0 done, 2 bad flags or unreadable input (one line on stderr).
#pragma once

namespace mlsidecar::policies {

int run_simulate_command(int argc, char** argv);

}  // namespace mlsidecar::policies
