// Test driver for the drift engine, used by test_scipy_agreement.py:
//   drift_tool profile ARGS...        runs `mlsidecar profile` (run_profile_command)
//   drift_tool stats < cases.json     evaluates statistics: {"cases": [{"op": ..., ...}]}
//   drift_tool engine --profile P --bodies FILE --route predict|infer|generate
//              [--direction input|output] [--window N]
//                                     offers each line of FILE to a DriftEngine, computes once,
//                                     prints the /drift document
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/profile_command.h"
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

int run_engine(int argc, char** argv) {
  drift::DriftSettings settings;
  std::string bodies;
  mlsidecar::Route route = mlsidecar::Route::predict;
  drift::Direction direction = drift::Direction::input;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--profile") {
      settings.profile_path = value;
    } else if (flag == "--bodies") {
      bodies = value;
    } else if (flag == "--window") {
      settings.window = std::stoul(value);
    } else if (flag == "--direction") {
      direction = *drift::parse_direction(value);
    } else if (flag == "--route") {
      route = value == "infer"      ? mlsidecar::Route::infer
              : value == "generate" ? mlsidecar::Route::generate
                                    : mlsidecar::Route::predict;
    } else {
      std::cerr << "drift_tool engine: unknown flag " << flag << "\n";
      return 2;
    }
  }
  settings.queue_capacity = 1 << 16;
  settings.queue_bytes = std::size_t{1} << 30;
  drift::DriftEngine engine(settings, 1);
  std::ifstream in(bodies);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (!engine.offer(0, direction, route, line)) {
      engine.drain_now();
      engine.offer(0, direction, route, line);
    }
  }
  engine.compute_now();
  std::cout << engine.drift_json() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: drift_tool profile|stats|engine ...\n";
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "profile") return drift::run_profile_command(argc - 1, argv + 1);
    if (cmd == "stats") return run_stats();
    if (cmd == "engine") return run_engine(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "drift_tool: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "drift_tool: unknown command " << cmd << "\n";
  return 2;
}
