#include "sidecar/drift_report_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/reference_profile.h"
#include "metrics/status/drift_view.h"
#include "metrics/status/escape.h"
#include "sidecar/status/report_page.h"

namespace mlsidecar::drift {
namespace {

using nlohmann::json;

// A bad input (as opposed to a bad flag): one line, exit 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Flags {
  std::string profile, input, output;
  std::string format = "auto";
  Direction direction = Direction::input;
  double psi_threshold = status::DriftThresholds::kAlertPsi;
  double ks_threshold = 0;  // 0: off, as in the alert rules
  std::uint64_t min_samples = static_cast<std::uint64_t>(status::DriftThresholds::kAlertMinSamples);
  std::uint64_t window = 100000;
  bool allow_missing = false;
};

std::vector<std::string> body_formats() {
  std::vector<std::string> out;
  for (const auto& spelling : payload_format_spellings()) {
    if (spelling.format != PayloadFormat::open_inference_v2_grpc) out.emplace_back(spelling.text);
  }
  return out;
}

const cli::FlagSet<Flags>& report_flags() {
  using F = Flags;
  static const cli::FlagSet<Flags> flags(
      cli::CommandInfo{
          .name = "drift-report",
          .usage = "usage: mlsidecar drift-report --profile FILE --input FILE [-o FILE] [flags]",
          .description =
              "Measures the drift of a batch of recorded bodies (one JSON document per line) "
              "against a reference profile with the sidecar's own drift engine and writes the "
              "status page's drift view as one standalone HTML file. Exit 0: no drift; 1: drift; "
              "2: usage or input error, which includes features with fewer than --min-samples "
              "values in the batch unless --allow-missing.",
          .env_prefix = ""},
      {
          cli::string_flag("profile", &F::profile,
                           "reference profile (JSON, from `mlsidecar profile`)")
              .value_name("FILE")
              .required(),
          cli::string_flag("input", &F::input, "the batch: one request (or response) body per line")
              .value_name("FILE")
              .required(),
          cli::string_flag("output", &F::output, "where to write the HTML (empty: stdout)")
              .short_name('o')
              .value_name("FILE"),
          cli::choice_flag("format", &F::format, body_formats(),
                           "payload format of the bodies; auto: by the first body's keys"),
          cli::enum_flag("direction", &F::direction,
                         {{"input", Direction::input}, {"output", Direction::output}},
                         "which side of the model the bodies are"),
          cli::number_flag("psi-threshold", &F::psi_threshold, 0, 1e9,
                           "a feature drifted when its PSI is above this (the "
                           "MlsidecarFeatureDrift alert's)"),
          cli::number_flag("ks-threshold", &F::ks_threshold, 0, 1,
                           "also when its KS statistic is above this (0: not checked)"),
          cli::uint_flag("min-samples", &F::min_samples, UINT64_MAX,
                         "values a feature needs before it can be flagged (the alert's); a "
                         "feature with fewer is 'not enough data', an input error"),
          cli::bool_flag("allow-missing", &F::allow_missing,
                         "features with fewer than --min-samples values (absent from the batch, "
                         "or too few) are reported, not an input error: exit 0 or 1 by the others"),
          cli::uint_flag("window", &F::window, 100000000,
                         "values kept per feature, the newest (serve's --drift-window); the "
                         "default reads a batch whole up to that")
              .at_least(1),
      });
  return flags;
}

// The first body's keys tell the protocol: V2 has inputs/outputs tensors, OpenAI prompt, messages
// or choices, KServe V1 instances/predictions (TF Serving's row format is the same document).
PayloadFormat sniff_format(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) throw InputError("line 1: not a JSON object (give --format)");
  for (const char* key : {"inputs", "outputs"}) {
    if (doc.contains(key)) return PayloadFormat::open_inference_v2;
  }
  for (const char* key : {"prompt", "messages", "choices"}) {
    if (doc.contains(key)) return PayloadFormat::openai;
  }
  for (const char* key : {"instances", "predictions"}) {
    if (doc.contains(key)) return PayloadFormat::kserve_v1;
  }
  throw InputError("line 1: no key tells the payload format (give --format)");
}

double skipped_bodies(const DriftEngine& engine) {
  double n = 0;
  for (const auto& family : engine.Collect()) {
    if (family.name == "mlsidecar_drift_skipped_total") {
      for (const auto& m : family.metric) n += m.counter.value;
    }
  }
  return n;
}

struct Report {
  json data;
  std::size_t drifted = 0;
  std::size_t thin = 0;  // features with fewer than --min-samples values: not enough data
  std::string summary;   // one line, for stderr (escaped there)
};

Report measure(const Flags& f) {
  ReferenceProfile profile;
  try {
    profile = load_profile(f.profile);
  } catch (const std::exception& e) {
    throw InputError(e.what());
  }
  std::ifstream in(f.input, std::ios::binary);
  if (!in) throw InputError(f.input + ": cannot open");
  std::vector<std::string> bodies;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!json::accept(line)) {
      throw InputError(f.input + ": body " + std::to_string(bodies.size() + 1) + " is not JSON");
    }
    bodies.push_back(std::move(line));
  }
  if (in.bad()) throw InputError(f.input + ": read error");
  if (bodies.empty()) throw InputError(f.input + ": no bodies");
  PayloadFormat format = PayloadFormat::automatic;
  if (!parse_payload_format(f.format, format)) throw InputError("--format: unknown");
  if (format == PayloadFormat::automatic) format = sniff_format(bodies.front());

  DriftSettings settings;
  settings.profile_path = f.profile;
  settings.window = f.window;
  settings.format = format;
  settings.max_body = std::size_t{1} << 30;
  settings.queue_bytes = std::size_t{64} << 20;
  DriftEngine engine(settings, 1, std::move(profile));
  if (!engine.watches(f.direction)) {
    throw InputError(f.profile + ": no feature of direction " +
                     std::string(direction_name(f.direction)));
  }
  // The queue is bounded: when it is full, drain it into the windows and offer again.
  for (const std::string& body : bodies) {
    if (!engine.offer(0, f.direction, Route::predict, body, format)) {
      engine.drain_now();
      if (!engine.offer(0, f.direction, Route::predict, body, format)) {
        throw InputError(f.input + ": a body could not be queued");
      }
    }
  }
  engine.compute_now();
  if (const double skipped = skipped_bodies(engine); skipped > 0) {
    throw InputError(f.input + ": " + std::to_string(static_cast<long long>(skipped)) + " of " +
                     std::to_string(bodies.size()) + " bodies could not be read as " +
                     std::string(payload_format_name(format)));
  }
  status::DriftThresholds thresholds;
  thresholds.psi = f.psi_threshold;
  if (f.ks_threshold > 0) thresholds.ks = f.ks_threshold;
  thresholds.min_samples = static_cast<double>(f.min_samples);
  json view = status::drift_view(json::parse(engine.drift_json()), thresholds);
  // The report covers one direction: the other's features have empty windows.
  json& features = view["features"];
  const std::string_view wanted = direction_name(f.direction);
  features.erase(std::remove_if(features.begin(), features.end(),
                                [&](const json& x) { return x["direction"] != wanted; }),
                 features.end());
  if (f.ks_threshold <= 0 && f.psi_threshold == status::DriftThresholds::kAlertPsi &&
      f.min_samples == static_cast<std::uint64_t>(status::DriftThresholds::kAlertMinSamples)) {
    view["thresholds"]["source"] =
        "MlsidecarFeatureDrift in manifests/monitoring/prometheusrule.yaml";
  } else {
    view["thresholds"]["source"] = "drift-report flags";
  }
  Report report;
  std::string names;
  std::string thin;  // "f6 (0), f7 (12)"
  for (const json& x : features) {
    if (!x["enough_data"].get<bool>()) {
      ++report.thin;
      if (!thin.empty()) thin += ", ";
      thin += x["name"].get<std::string>() + " (" +
              std::to_string(x["window_samples"].get<std::uint64_t>()) + ")";
    }
    if (!x["flagged"].get<bool>()) continue;
    ++report.drifted;
    if (!names.empty()) names += ", ";
    names += x["name"].get<std::string>();
  }
  view["drifted"] = report.drifted;
  const std::string fewer = "fewer than " + std::to_string(f.min_samples) + " values";
  if (report.thin > 0 && !f.allow_missing) {
    report.summary = "input error: " + std::to_string(report.thin) + " of " +
                     std::to_string(features.size()) + " features have " + fewer +
                     " in the batch: " + thin + "; the report marks them, --allow-missing " +
                     "judges the other " + std::to_string(features.size() - report.thin);
  } else {
    report.summary = std::to_string(report.drifted) + " of " + std::to_string(features.size()) +
                     " features drifted" + (names.empty() ? "" : " (" + names + ")");
    if (report.thin > 0) report.summary += "; not enough data (" + fewer + "): " + thin;
  }
  report.data = {{"report",
                  {{"profile", f.profile},
                   {"input", f.input},
                   {"format", payload_format_name(format)},
                   {"direction", wanted},
                   {"bodies", bodies.size()},
                   {"allow_missing", f.allow_missing},
                   {"generated_at", rfc3339(std::chrono::system_clock::now())}}},
                 {"drift", std::move(view)}};
  return report;
}

}  // namespace

int run_drift_report_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(report_flags(), args, env, [](Flags& flags) {
    try {
      const Report report = measure(flags);
      const std::string html =
          status::report_html("mlsidecar drift report: " + flags.input, report.data);
      if (flags.output.empty()) {
        std::cout << html;
        std::cout.flush();
      } else {
        std::ofstream out(flags.output, std::ios::binary | std::ios::trunc);
        out << html;
        out.close();
        if (!out) throw InputError(flags.output + ": cannot write");
      }
      // Names come from the profile and the command line: escaped, so one line stays one line.
      std::fprintf(stderr, "mlsidecar drift-report: %s\n",
                   status::message_escape(report.summary).c_str());
      if (report.thin > 0 && !flags.allow_missing) return 2;
      return report.drifted > 0 ? 1 : 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mlsidecar drift-report: %s\n",
                   status::message_escape(e.what()).c_str());
      return 2;
    }
  });
}

}  // namespace mlsidecar::drift
