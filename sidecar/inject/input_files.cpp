// Reading the files named by -f. See input_files.h.
#include "sidecar/inject/input_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

namespace mlsidecar::inject {
namespace {

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

}  // namespace

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

}  // namespace mlsidecar::inject
