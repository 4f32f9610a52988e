#include "metrics/drift/profile/profile_command.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/profile/profile_builder.h"
#include "metrics/drift/reference_profile.h"
#include "metrics/drift/profile/training_data.h"

namespace mlsidecar::drift {
namespace {

constexpr const char* kUsage = R"(usage: mlsidecar profile --input FILE [options]

Builds a drift reference profile (JSON) from training data, for `mlsidecar serve --drift-profile`.

  --input FILE          training data: CSV with a header, JSON Lines of objects, or recorded
                        request/response bodies (one JSON document per line)
  --output FILE         where to write the profile (default: standard output)
  --format F            csv | jsonl | kserve-v1 | v2 | tf-serving | openai | auto
                        (default auto: .csv is csv, anything else jsonl)
  --direction D         input | output: which side the features belong to (default input)
  --bins N              quantile bins per numeric feature (default 10)
  --top-k N             categories kept per categorical feature, the rest is __other__ (default 20)
  --sample-cap N        reference values kept for KS and Wasserstein (default 10000; a uniform
                        sample beyond it)
  --seed N              seed of that sample (default 1)
  --max-features N      features kept, in order of appearance (default 256)
  --categorical A,B     profile these features as categorical
  --numeric A,B         profile these features as numeric (text values count as missing)
  --columns A,B         names of positional columns (list rows, [batch,k] tensors)
  --merge FILE          start from this profile and replace its features of --direction
  --help                this text
)";

struct Flags {
  std::string input, output, merge;
  std::string format = "auto";
  Direction direction = Direction::input;
  ProfileOptions options;
  std::vector<std::string> columns;
};

std::set<std::string> split_set(std::string_view s) {
  std::set<std::string> out;
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    if (!item.empty()) out.insert(std::string(item));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::size_t parse_count(std::string_view flag, std::string_view value, std::size_t min) {
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min) {
    throw std::invalid_argument(std::string(flag) + " needs an integer >= " + std::to_string(min) +
                                ", got '" + std::string(value) + "'");
  }
  return n;
}

// Returns nullopt for --help.
std::optional<Flags> parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::nullopt;
    std::string_view value;
    std::string_view name = arg;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (!arg.starts_with("--"))
        throw std::invalid_argument("unexpected argument '" + std::string(arg) + "'");
      if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    if (name == "--input") {
      f.input = value;
    } else if (name == "--output") {
      f.output = value;
    } else if (name == "--format") {
      f.format = value;
    } else if (name == "--direction") {
      auto d = parse_direction(value);
      if (!d) throw std::invalid_argument("--direction must be input or output");
      f.direction = *d;
    } else if (name == "--bins") {
      f.options.bins = parse_count(name, value, 2);
    } else if (name == "--top-k") {
      f.options.top_k = parse_count(name, value, 1);
    } else if (name == "--sample-cap") {
      f.options.sample_cap = parse_count(name, value, 1);
    } else if (name == "--seed") {
      f.options.seed = parse_count(name, value, 0);
    } else if (name == "--max-features") {
      f.options.max_features = parse_count(name, value, 1);
    } else if (name == "--categorical") {
      f.options.categorical = split_set(value);
    } else if (name == "--numeric") {
      f.options.numeric = split_set(value);
    } else if (name == "--columns") {
      f.columns = split_list(value);
    } else if (name == "--merge") {
      f.merge = value;
    } else {
      throw std::invalid_argument("unknown flag " + std::string(name) + " (see --help)");
    }
  }
  if (f.input.empty()) throw std::invalid_argument("--input is required (see --help)");
  return f;
}

ReferenceProfile build_profile(const Flags& f) {
  std::ifstream in(f.input, std::ios::binary);
  if (!in) throw std::runtime_error(f.input + ": cannot open");
  ProfileBuilder builder(f.options);
  std::string format = f.format;
  if (format == "auto") {
    format = f.input.size() >= 4 && f.input.compare(f.input.size() - 4, 4, ".csv") == 0 ? "csv"
                                                                                        : "jsonl";
  }
  ReferenceProfile profile;
  if (!f.merge.empty()) profile = load_profile(f.merge);
  try {
    if (format == "csv") {
      read_csv(in, builder);
    } else if (format == "jsonl") {
      read_jsonl(in, builder);
    } else {
      PayloadFormat pf;
      if (!parse_payload_format(format, pf) || pf == PayloadFormat::automatic) {
        throw std::invalid_argument(
            "--format must be csv, jsonl, kserve-v1, v2, tf-serving or openai");
      }
      FeatureNaming naming;
      naming.columns = f.columns.empty() ? nullptr : &f.columns;
      std::map<std::string, std::vector<std::string>> tensors = profile.tensor_columns;
      naming.tensor_columns = &tensors;
      read_bodies(in, pf, f.direction, naming, builder);
    }
    if (in.bad()) throw std::runtime_error("read error");
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(f.input + ": " + e.what());
  }
  std::vector<FeatureProfile> features;
  try {
    features = builder.build(f.direction);
  } catch (const std::exception& e) {
    throw std::runtime_error(f.input + ": " + e.what());
  }
  std::erase_if(profile.features,
                [&](const FeatureProfile& p) { return p.direction == f.direction; });
  for (auto& p : features) profile.features.push_back(std::move(p));
  std::vector<std::string>& columns =
      f.direction == Direction::input ? profile.input_columns : profile.output_columns;
  columns = f.columns.empty() && (format == "csv" || format == "jsonl") ? builder.feature_order()
                                                                        : f.columns;
  profile.source = profile.source.empty() ? f.input : profile.source + ", " + f.input;
  // Validate what we are about to write exactly as the sidecar will read it.
  (void)parse_profile(profile_to_json(profile), f.input);
  return profile;
}

}  // namespace

int run_profile_command(int argc, char** argv) {
  std::optional<Flags> flags;
  try {
    flags = parse_flags(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlsidecar profile: %s\n", e.what());
    return 2;
  }
  if (!flags) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    ReferenceProfile profile = build_profile(*flags);
    if (flags->output.empty()) {
      std::cout << profile_to_json(profile);
      std::cout.flush();
    } else {
      save_profile(profile, flags->output);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlsidecar profile: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace mlsidecar::drift
