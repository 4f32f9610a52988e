// `mlsidecar inject` and `mlsidecar uninject`: files in, YAML out. See commands.h.
#include <cstdio>

#include "sidecar/config.h"
#include "sidecar/inject/commands.h"
#include "sidecar/inject/input_files.h"
#include "sidecar/inject/manifest.h"
#include "sidecar/inject/settings.h"

namespace mlsidecar::inject {
namespace {

struct InjectOptions {
  InjectionSettings settings;
  std::vector<std::string> files;
};

// The per-pod annotations, for the help text: each is the serve flag of the same name.
std::string per_pod_annotations() {
  std::string out =
      "\n\nPer pod, the annotation mlsidecar.io/<flag> sets the sidecar's serve flag of that "
      "name\n(checked as `mlsidecar serve` checks it) for these flags:\n";
  std::size_t column = 0;
  for (std::string_view name : per_pod_flags()) {
    if (column + name.size() + 1 > 96) {
      out += '\n';
      column = 0;
    }
    out += column == 0 ? "  " : " ";
    out += name;
    column += name.size() + 1;
  }
  return out;
}

const cli::FlagSet<InjectOptions>& inject_flags() {
  static const cli::FlagSet<InjectOptions> flags(
      cli::CommandInfo{
          .name = "inject",
          .usage = "usage: mlsidecar inject -f FILE|DIR|- [-f ...] [flags]",
          .description = "Puts the mlsidecar container into the pods of the manifests and writes "
                         "them to stdout,\none report line per object to stderr. Injecting twice "
                         "changes nothing." +
                         per_pod_annotations()},
      cli::join({filename_flag(&InjectOptions::files)},
                cli::nested(&InjectOptions::settings, settings_flags())));
  return flags;
}

const cli::FlagSet<InjectOptions>& uninject_flags() {
  static const cli::FlagSet<InjectOptions> flags(
      cli::CommandInfo{.name = "uninject",
                       .usage = "usage: mlsidecar uninject -f FILE|DIR|- [-f ...]",
                       .description = "Writes the manifests as they were before `mlsidecar "
                                      "inject` to stdout."},
      {filename_flag(&InjectOptions::files)});
  return flags;
}

int run(const InjectOptions& options, Direction direction, const char* command) {
  std::string output;
  std::vector<std::string> reports;
  try {
    for (const Input& input : read_inputs(options.files)) {
      const ManifestResult result = transform_manifest(input.text, direction, options.settings);
      if (!result.ok) throw InputError(input.name + ": " + result.error);
      if (result.yaml.empty()) throw InputError(input.name + ": no manifest in it");
      if (!output.empty()) output += "---\n";
      output += result.yaml;
      reports.insert(reports.end(), result.reports.begin(), result.reports.end());
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "mlsidecar %s: %s\n", command, e.what());
    return 1;
  }
  for (const auto& line : reports) std::fprintf(stderr, "%s\n", line.c_str());
  // The output is complete before the first byte is written: nothing half-written on failure.
  if (std::fwrite(output.data(), 1, output.size(), stdout) != output.size() ||
      std::fflush(stdout) != 0) {
    std::fprintf(stderr, "mlsidecar %s: cannot write stdout\n", command);
    return 1;
  }
  return 0;
}

}  // namespace

int run_inject_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(inject_flags(), args, env, [](const InjectOptions& options) {
    return run(options, Direction::inject, "inject");
  });
}

int run_uninject_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(uninject_flags(), args, env, [](const InjectOptions& options) {
    return run(options, Direction::uninject, "uninject");
  });
}

}  // namespace mlsidecar::inject
