// mlsidecar-inject-driver: runs the injection subcommands the way `mlsidecar` dispatches them
// (argv[1] is "inject", "uninject" or "webhook"), so the tests can run before sidecar/main.cpp
// links the injection library, and later against the real binary (MLSIDECAR_BIN).
#include "sidecar/inject/commands.h"

#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: mlsidecar-inject-driver inject|uninject|webhook ...\n", stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "inject") return mlsidecar::inject::run_inject_command(argc - 1, argv + 1);
  if (command == "uninject") return mlsidecar::inject::run_uninject_command(argc - 1, argv + 1);
  if (command == "webhook") return mlsidecar::inject::run_webhook_command(argc - 1, argv + 1);
  std::fprintf(stderr, "mlsidecar-inject-driver: unknown command \"%s\"\n", argv[1]);
  return 2;
}
