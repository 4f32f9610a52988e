// Fuzz target: mlsidecar::parse_config (sidecar/config.h) with fuzz-made arguments, MLSIDECAR_*
// environment variables and a --config file.
//
// Input (FuzzedDataProvider): up to 8 arguments and 3 environment entries (name after MLSIDECAR_,
// value), each up to a lone backslash; the rest is the config file. An argument "@" stands for the
// config file's path, and so does the value of an environment entry named CONFIG.
//
// Invariants: a bad configuration is refused with ConfigError only (main prints it as one line and
// exits 2; anything else would escape as a crash); an accepted one renders with config_to_json, and
// that JSON, fed back as a config file, is accepted and renders the same.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sidecar/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string& file_path() {
  static const std::string path =
      "/tmp/mlsidecar-fuzz-config-" + std::to_string(::getpid()) + ".json";
  return path;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Parses; false when refused with ConfigError. Any other exception aborts.
bool parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
           mlsidecar::ParseResult& out) {
  try {
    out = mlsidecar::parse_config(args, env);
    return true;
  } catch (const mlsidecar::ConfigError&) {
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config threw something other than ConfigError: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string& path = file_path();
  std::vector<std::string> args;
  for (int n = in.ConsumeIntegralInRange(0, 8); n > 0; --n) {
    std::string a = in.ConsumeRandomLengthString(128);
    args.push_back(a == "@" ? path : a);
  }
  std::map<std::string, std::string> env;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    std::string name = "MLSIDECAR_" + in.ConsumeRandomLengthString(48);
    std::string value = in.ConsumeRandomLengthString(128);
    env[name] = name == "MLSIDECAR_CONFIG" ? path : value;
  }
  write_file(path, in.ConsumeRemainingBytesAsString());

  mlsidecar::ParseResult result;
  if (!parse(args, env, result) || result.help) return 0;

  const std::string shown = mlsidecar::config_to_json(result.config);
  nlohmann::json doc = nlohmann::json::parse(shown, nullptr, false);
  FUZZ_CHECK(doc.is_object());
  doc.erase("config");             // where the settings came from, not a setting
  doc.erase("threads_effective");  // informational
  write_file(path, doc.dump());
  mlsidecar::ParseResult again;
  FUZZ_CHECK(parse({"--config", path}, {}, again));
  std::string shown_again = mlsidecar::config_to_json(again.config);
  nlohmann::json a = nlohmann::json::parse(shown), b = nlohmann::json::parse(shown_again);
  a.erase("config");
  b.erase("config");
  FUZZ_CHECK(a == b);
  return 0;
}
