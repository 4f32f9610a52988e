#include "sidecar/profile_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/profile/profile_builder.h"
#include "metrics/drift/profile/training_data.h"
#include "metrics/drift/reference_profile.h"

namespace mlsidecar::drift {
namespace {

struct Flags {
  std::string input, output, merge;
  std::string format = "auto";
  Direction direction = Direction::input;
  ProfileOptions options;
  std::string categorical, numeric, columns;  // comma-separated
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

// csv, jsonl, then every spelling the payload readers accept (metrics/drift/payload.h).
std::vector<std::string> input_formats() {
  std::vector<std::string> out = {"csv", "jsonl"};
  for (const auto& spelling : payload_format_spellings()) out.emplace_back(spelling.text);
  return out;
}

const cli::FlagSet<Flags>& profile_flags() {
  using F = Flags;
  using O = ProfileOptions;
  static const cli::FlagSet<Flags> flags(
      cli::CommandInfo{.name = "profile",
                       .usage = "usage: mlsidecar profile --input FILE [flags]",
                       .description =
                           "Builds a drift reference profile (JSON) from training data, for "
                           "`mlsidecar serve --drift-profile`.",
                       .env_prefix = ""},
      cli::join(
          {
              cli::string_flag("input", &F::input,
                               "training data: CSV with a header, JSON Lines of objects, or "
                               "recorded request/response bodies (one JSON document per line)")
                  .value_name("FILE")
                  .required(),
              cli::string_flag("output", &F::output, "where to write the profile (empty: stdout)")
                  .value_name("FILE"),
              cli::choice_flag("format", &F::format, input_formats(),
                               "format of --input; auto: .csv is csv, anything else jsonl"),
              cli::enum_flag("direction", &F::direction,
                             {{"input", Direction::input}, {"output", Direction::output}},
                             "which side of the model the features belong to"),
              cli::string_flag("categorical", &F::categorical,
                               "profile these features (A,B) as categorical"),
              cli::string_flag("numeric", &F::numeric,
                               "profile these features (A,B) as numeric (text counts as missing)"),
              cli::string_flag("columns", &F::columns,
                               "names (A,B) of positional columns (list rows, [batch,k] tensors)"),
              cli::string_flag("merge", &F::merge,
                               "start from this profile and replace its features of --direction")
                  .value_name("FILE"),
          },
          cli::nested(
              &F::options,
              std::vector<cli::Flag<O>>{
                  cli::uint_flag("bins", &O::bins, 1000000, "quantile bins per numeric feature")
                      .at_least(2),
                  cli::uint_flag("top-k", &O::top_k, 1000000,
                                 "categories kept per categorical feature, the rest is __other__")
                      .at_least(1),
                  cli::uint_flag("sample-cap", &O::sample_cap, 100000000,
                                 "reference values kept for KS and Wasserstein (a uniform sample "
                                 "beyond it)")
                      .at_least(1),
                  cli::uint_flag("seed", &O::seed, UINT64_MAX, "seed of that sample"),
                  cli::uint_flag("max-features", &O::max_features, 1000000,
                                 "features kept, in order of appearance")
                      .at_least(1),
              })));
  return flags;
}

ReferenceProfile build_profile(const Flags& f) {
  std::ifstream in(f.input, std::ios::binary);
  if (!in) throw std::runtime_error(f.input + ": cannot open");
  ProfileOptions options = f.options;
  options.categorical = split_set(f.categorical);
  options.numeric = split_set(f.numeric);
  const std::vector<std::string> columns_given = split_list(f.columns);
  ProfileBuilder builder(options);
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
        throw std::invalid_argument("--format '" + format + "': not a payload format");
      }
      FeatureNaming naming;
      naming.columns = columns_given.empty() ? nullptr : &columns_given;
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
  columns = columns_given.empty() && (format == "csv" || format == "jsonl")
                ? builder.feature_order()
                : columns_given;
  profile.source = profile.source.empty() ? f.input : profile.source + ", " + f.input;
  // Validate what we are about to write exactly as the sidecar will read it.
  (void)parse_profile(profile_to_json(profile), f.input);
  return profile;
}

}  // namespace

int run_profile_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(profile_flags(), args, env, [](Flags& flags) {
    try {
      ReferenceProfile profile = build_profile(flags);
      if (flags.output.empty()) {
        std::cout << profile_to_json(profile);
        std::cout.flush();
      } else {
        save_profile(profile, flags.output);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mlsidecar profile: %s\n", e.what());
      return 2;
    }
    return 0;
  });
}

}  // namespace mlsidecar::drift
