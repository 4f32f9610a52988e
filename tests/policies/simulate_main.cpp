// A stand-alone driver for `mlsidecar simulate`, for testing the policies library on its own:
//   mlsidecar_simulate [flags]   ==   mlsidecar simulate [flags]
#include <vector>

#include "policies/simulate_command.h"

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char name[] = "simulate";
  args[0] = name;
  return mlsidecar::policies::run_simulate_command(argc, args.data());
}
