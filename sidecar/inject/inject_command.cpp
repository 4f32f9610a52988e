// `mlsidecar inject` and `mlsidecar uninject`: files in, YAML out. See commands.h.
#include "sidecar/inject/commands.h"
#include "sidecar/inject/manifest.h"
#include "sidecar/inject/settings.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace mlsidecar::inject {
namespace {

void print_usage(const char* command, bool with_settings) {
  std::fprintf(stderr,
               "usage: mlsidecar %s -f FILE|-%s\n"
               "  -f, --filename FILE  manifest to read (multi-document YAML or kind: List); - "
               "for stdin\n",
               command, with_settings ? " [flags]" : "");
  if (with_settings) std::fputs(settings_help().c_str(), stderr);
}

bool read_input(const std::string& path, std::string& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return !std::cin.bad();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return !in.bad();
}

int run(int argc, char** argv, Direction direction) {
  const char* command = direction == Direction::inject ? "inject" : "uninject";
  const bool with_settings = direction == Direction::inject;
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  ParsedSettings parsed;
  try {
    parsed = with_settings ? parse_settings(args, process_environment())
                           : ParsedSettings{InjectionSettings{}, args};
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "mlsidecar %s: %s\n", command, e.what());
    return 2;
  }
  std::string file;
  for (std::size_t i = 0; i < parsed.rest.size(); ++i) {
    const std::string& a = parsed.rest[i];
    if (a == "-h" || a == "--help") {
      print_usage(command, with_settings);
      return 0;
    }
    if ((a == "-f" || a == "--filename") && i + 1 < parsed.rest.size()) {
      file = parsed.rest[++i];
    } else if (a.rfind("--filename=", 0) == 0) {
      file = a.substr(11);
    } else {
      std::fprintf(stderr, "mlsidecar %s: unknown argument \"%s\"\n", command, a.c_str());
      print_usage(command, with_settings);
      return 2;
    }
  }
  if (file.empty()) {
    print_usage(command, with_settings);
    return 2;
  }
  std::string input;
  if (!read_input(file, input)) {
    std::fprintf(stderr, "mlsidecar %s: cannot read %s\n", command, file.c_str());
    return 1;
  }
  const ManifestResult result = transform_manifest(input, direction, parsed.settings);
  if (!result.ok) {
    std::fprintf(stderr, "mlsidecar %s: %s: %s\n", command, file == "-" ? "stdin" : file.c_str(),
                 result.error.c_str());
    return 1;
  }
  for (const auto& line : result.reports) std::fprintf(stderr, "%s\n", line.c_str());
  // The output is complete before the first byte is written: nothing half-written on failure.
  if (std::fwrite(result.yaml.data(), 1, result.yaml.size(), stdout) != result.yaml.size() ||
      std::fflush(stdout) != 0) {
    std::fprintf(stderr, "mlsidecar %s: cannot write stdout\n", command);
    return 1;
  }
  return 0;
}

}  // namespace

int run_inject_command(int argc, char** argv) { return run(argc, argv, Direction::inject); }
int run_uninject_command(int argc, char** argv) { return run(argc, argv, Direction::uninject); }

}  // namespace mlsidecar::inject
