// `mlsidecar profile`: builds a drift reference profile from training data.
//
//   mlsidecar profile --input train.csv --output profile.json [--bins 10] [--top-k 20] ...
//
// argv[0] is "profile". Returns 0 on success; 2 with one line on stderr for bad flags or bad
// input; `--help` prints the usage on stdout and returns 0.
#pragma once

namespace mlsidecar::drift {

int run_profile_command(int argc, char** argv);

}  // namespace mlsidecar::drift
