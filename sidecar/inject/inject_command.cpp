// `mlsidecar inject` and `mlsidecar uninject`: files in, YAML out. See commands.h.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include "sidecar/config.h"
#include "sidecar/inject/commands.h"
#include "sidecar/inject/manifest.h"
#include "sidecar/inject/settings.h"

namespace mlsidecar::inject {
namespace {

struct InjectOptions {
  InjectionSettings settings;
  std::vector<std::string> files;
};

// One manifest file as read: its name for messages, and its text.
struct Input {
  std::string name;
  std::string text;
};

// A failure to read or transform: one line, exit code 1.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

cli::Flag<InjectOptions> filename_flag() {
  return cli::list_flag("filename", &InjectOptions::files,
                        "manifest (multi-document YAML, JSON or kind: List); a directory gives "
                        "its .yaml, .yml and .json files in name order (not its subdirectories); "
                        "- is stdin")
      .short_name('f')
      .value_name("FILE|DIR|-")
      .no_env()
      .required();
}

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
      cli::join({filename_flag()}, cli::nested(&InjectOptions::settings, settings_flags())));
  return flags;
}

const cli::FlagSet<InjectOptions>& uninject_flags() {
  static const cli::FlagSet<InjectOptions> flags(
      cli::CommandInfo{.name = "uninject",
                       .usage = "usage: mlsidecar uninject -f FILE|DIR|- [-f ...]",
                       .description = "Writes the manifests as they were before `mlsidecar "
                                      "inject` to stdout."},
      {filename_flag()});
  return flags;
}

std::string read_stream(std::istream& in, const std::string& name) {
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError("cannot read " + name);
  return text;
}

void read_file_into(std::vector<Input>& inputs, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path);
  inputs.push_back({path, read_stream(in, path)});
}

bool is_manifest_file(const std::filesystem::directory_entry& entry) {
  const std::string ext = entry.path().extension().string();
  return entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json");
}

// Each -f in order; a directory's manifest files sorted by name, as kubectl reads them.
std::vector<Input> read_inputs(const std::vector<std::string>& files) {
  std::vector<Input> inputs;
  for (const std::string& file : files) {
    if (file == "-") {
      inputs.push_back({"stdin", read_stream(std::cin, "stdin")});
      continue;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
      std::vector<std::string> paths;
      for (const auto& entry : std::filesystem::directory_iterator(file, ec)) {
        if (is_manifest_file(entry)) paths.push_back(entry.path().string());
      }
      if (ec) throw InputError("cannot read the directory " + file);
      if (paths.empty()) throw InputError(file + ": no .yaml, .yml or .json file in the directory");
      std::sort(paths.begin(), paths.end());
      for (const auto& path : paths) read_file_into(inputs, path);
      continue;
    }
    read_file_into(inputs, file);
  }
  return inputs;
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
