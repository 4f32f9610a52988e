// Test driver for the drift engine, used by test_scipy_agreement.py (which builds its profiles with
// the real `mlsidecar profile`):
//   drift_tool stats < cases.json     evaluates statistics: {"cases": [{"op": ..., ...}]}
//   drift_tool engine --profile P --bodies FILE --route predict|infer|generate
//              [--direction input|output] [--window N] [--format v2-grpc]
//                                     offers each line of FILE to a DriftEngine, computes once,
//                                     prints the /drift document with "counters" (bodies read,
//                                     skipped by reason, untracked values) added; with --format
//                                     v2-grpc each line is a protobuf message in hex, offered as
//                                     the gRPC relay offers it
//   drift_tool read --bodies FILE [--profile P] [--direction D] [--format v2|v2-grpc]
//                                     reads each line with the V2 JSON reader (or, hex, the V2
//                                     gRPC reader) and prints one line per body: status, rows and
//                                     [name, type, value] per value, numbers in C's %a, texts
//                                     in hex
//   drift_tool bench --profile P --body FILE [--route infer] [--direction input] [--n N]
//              [--format v2-grpc]
//                                     times the worker's steps on one body, per body: the
//                                     nlohmann-document reader, the public reader (scanner), the
//                                     hand-off + ingest, and one computation of every statistic
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/json_values.h"
#include "metrics/drift/statistics.h"

namespace {

using nlohmann::json;
namespace drift = mlsidecar::drift;

json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

int run_stats() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json doc = json::parse(text);
  json results = json::array();
  for (const json& c : doc.at("cases")) {
    const std::string op = c.at("op");
    json r;
    if (op == "ks") {
      auto a = c.at("a").get<std::vector<double>>();
      auto b = c.at("b").get<std::vector<double>>();
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      drift::KsResult ks = drift::ks_2samp(a, b);
      r = {{"statistic", number(ks.statistic)}, {"pvalue", number(ks.pvalue)}, {"exact", ks.exact}};
    } else if (op == "wasserstein") {
      auto a = c.at("a").get<std::vector<double>>();
      auto b = c.at("b").get<std::vector<double>>();
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      r = {{"value", number(drift::wasserstein(a, b))}};
    } else if (op == "js") {
      auto p = c.at("p").get<std::vector<double>>();
      auto q = c.at("q").get<std::vector<double>>();
      r = {{"value", number(drift::js_distance(p, q))}};
    } else if (op == "psi") {
      auto e = c.at("expected").get<std::vector<double>>();
      auto a = c.at("actual").get<std::vector<double>>();
      r = {{"value", number(drift::psi(e, a))}};
    } else if (op == "chisquare") {
      auto o = c.at("observed").get<std::vector<double>>();
      auto e = c.at("expected").get<std::vector<double>>();
      drift::ChisquareResult chi = drift::chisquare(o, e);
      r = {{"statistic", number(chi.statistic)}, {"pvalue", number(chi.pvalue)}};
    } else if (op == "gammaincc") {
      r = {{"value", number(drift::gamma_q(c.at("a"), c.at("x")))}};
    } else if (op == "kstwo_sf") {
      r = {{"value", number(drift::kolmogorov_sf(c.at("d"), c.at("n")))}};
    } else {
      std::cerr << "drift_tool: unknown op " << op << "\n";
      return 2;
    }
    results.push_back(r);
  }
  std::cout << json{{"results", results}}.dump() << "\n";
  return 0;
}

struct EngineArgs {
  drift::DriftSettings settings;
  std::string bodies;
  mlsidecar::Route route = mlsidecar::Route::predict;
  drift::Direction direction = drift::Direction::input;
  long n = 200000;
  bool grpc = false;  // --format v2-grpc: lines are hex protobuf messages
};

bool parse_engine_args(int argc, char** argv, EngineArgs& a) {
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--profile") {
      a.settings.profile_path = value;
    } else if (flag == "--bodies" || flag == "--body") {
      a.bodies = value;
    } else if (flag == "--window") {
      a.settings.window = std::stoul(value);
    } else if (flag == "--n") {
      a.n = std::stol(value);
    } else if (flag == "--format") {
      a.grpc = value == "v2-grpc";
    } else if (flag == "--direction") {
      a.direction = *drift::parse_direction(value);
    } else if (flag == "--route") {
      a.route = value == "infer"      ? mlsidecar::Route::infer
                : value == "generate" ? mlsidecar::Route::generate
                                      : mlsidecar::Route::predict;
    } else {
      std::cerr << "drift_tool: unknown flag " << flag << "\n";
      return false;
    }
  }
  return true;
}

// A line of the bodies file: itself, or with --format v2-grpc the bytes its hex digits spell.
std::string body_of(const std::string& line, bool grpc) {
  if (!grpc) return line;
  auto digit = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < line.size(); i += 2) {
    out.push_back(static_cast<char>(digit(line[i]) << 4 | digit(line[i + 1])));
  }
  return out;
}

template <typename Fn>
double ns_per_call(long n, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) fn();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
}

int run_bench(int argc, char** argv) {
  EngineArgs a;
  a.route = mlsidecar::Route::infer;
  if (!parse_engine_args(argc, argv, a)) return 2;
  std::ifstream in(a.bodies);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::string body = body_of(text, a.grpc);
  const drift::PayloadFormat format =
      a.grpc ? drift::PayloadFormat::open_inference_v2_grpc : drift::PayloadFormat::automatic;
  drift::DriftEngine engine(a.settings, 1);
  const drift::ReferenceProfile& profile = engine.profile();
  const drift::FeatureNaming naming{&profile.columns(a.direction), &profile.tensor_columns};
  const bool v2 = drift::format_for_route(drift::PayloadFormat::automatic, a.route) ==
                  drift::PayloadFormat::open_inference_v2;
  std::vector<drift::FeatureValue> out;
  const double document = ns_per_call(a.n, [&] {
    out.clear();
    if (a.grpc) {
      // no document reader: the same reader again
      drift::read_open_inference_v2_grpc(body, a.direction, naming, out);
    } else if (v2) {
      drift::detail::read_open_inference_v2_document(body, a.direction, naming, out);
    } else {
      drift::detail::read_tf_serving_document(body, a.direction, naming, out);
    }
  });
  const double reader = ns_per_call(a.n, [&] {
    out.clear();
    drift::read_payload(format, a.route, body, a.direction, naming, out);
  });
  const double ingest = ns_per_call(a.n, [&] {
    if (!engine.offer(0, a.direction, a.route, body, format)) {
      engine.drain_now();
      engine.offer(0, a.direction, a.route, body, format);
    }
  });
  engine.drain_now();
  const long computes = 20;
  const double compute = ns_per_call(computes, [&] { engine.compute_now(); });
  json doc = {{"body_bytes", body.size()},      {"values", out.size()},
              {"document_reader_ns", document}, {"reader_ns", reader},
              {"offer_and_ingest_ns", ingest},  {"compute_ms", compute / 1e6}};
  std::cout << doc.dump() << "\n";
  return 0;
}

int run_engine(int argc, char** argv) {
  EngineArgs a;
  if (!parse_engine_args(argc, argv, a)) return 2;
  drift::DriftSettings settings = a.settings;
  const std::string bodies = a.bodies;
  const mlsidecar::Route route = a.route;
  const drift::Direction direction = a.direction;
  settings.queue_capacity = 1 << 16;
  settings.queue_bytes = std::size_t{1} << 30;
  drift::DriftEngine engine(settings, 1);
  const drift::PayloadFormat format =
      a.grpc ? drift::PayloadFormat::open_inference_v2_grpc : drift::PayloadFormat::automatic;
  std::ifstream in(bodies);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::string body = body_of(line, a.grpc);
    if (!engine.offer(0, direction, route, body, format)) {
      engine.drain_now();
      engine.offer(0, direction, route, body, format);
    }
  }
  engine.compute_now();
  json doc = json::parse(engine.drift_json());
  json counters = json::object();
  for (const auto& family : engine.Collect()) {
    const std::string& name = family.name;
    if (name != "mlsidecar_drift_samples_total" && name != "mlsidecar_drift_skipped_total" &&
        name != "mlsidecar_drift_untracked_values_total") {
      continue;
    }
    for (const auto& m : family.metric) {
      std::string key = name;
      for (const auto& l : m.label) key += "," + l.name + "=" + l.value;
      counters[key] = m.counter.value;
    }
  }
  doc["counters"] = std::move(counters);
  std::cout << doc.dump(2) << "\n";
  return 0;
}

int run_read(int argc, char** argv) {
  EngineArgs a;
  if (!parse_engine_args(argc, argv, a)) return 2;
  drift::ReferenceProfile profile;
  if (!a.settings.profile_path.empty()) profile = drift::load_profile(a.settings.profile_path);
  const drift::FeatureNaming naming{&profile.columns(a.direction), &profile.tensor_columns};
  std::ifstream in(a.bodies);
  std::string line;
  std::vector<drift::FeatureValue> out;
  while (std::getline(in, line)) {
    const std::string body = body_of(line, a.grpc);
    out.clear();
    const drift::ReadResult r =
        a.grpc ? drift::read_open_inference_v2_grpc(body, a.direction, naming, out)
               : drift::read_open_inference_v2(body, a.direction, naming, out);
    json values = json::array();
    for (const drift::FeatureValue& v : out) {
      if (v.type == drift::FeatureValue::Type::number) {
        char hex[64];
        std::snprintf(hex, sizeof hex, "%a", v.number);
        values.push_back({v.name, "number", hex});
      } else {
        std::string hex;  // texts are bytes (BYTES tensors), not necessarily UTF-8
        for (unsigned char c : v.text) {
          hex.push_back("0123456789abcdef"[c >> 4]);
          hex.push_back("0123456789abcdef"[c & 15]);
        }
        values.push_back(
            {v.name, v.type == drift::FeatureValue::Type::text ? "text" : "missing", hex});
      }
    }
    std::cout << json{{"status", drift::read_status_name(r.status)},
                      {"rows", r.rows},
                      {"values", std::move(values)}}
                     .dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: drift_tool stats|engine|bench|read ...\n";
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "stats") return run_stats();
    if (cmd == "engine") return run_engine(argc, argv);
    if (cmd == "bench") return run_bench(argc, argv);
    if (cmd == "read") return run_read(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "drift_tool: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "drift_tool: unknown command " << cmd << "\n";
  return 2;
}
