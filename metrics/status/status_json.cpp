#include "metrics/status/status_json.h"

#include <cmath>

namespace mlsidecar::status {
namespace {

using nlohmann::json;

json optional_number(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? json(*v) : json(nullptr);
}

json ratio_or_null(double part, double whole) {
  return whole > 0 ? json(part / whole) : json(nullptr);
}

}  // namespace

json ring_json(const StatusRing& ring, double interval_seconds) {
  json t = json::array(), seconds = json::array(), rps = json::array(), errors = json::array(),
       p50 = json::array(), p99 = json::array(), in_flight = json::array(), queued = json::array(),
       load = json::array(), ttft50 = json::array(), ttft99 = json::array(), tokens = json::array();
  for (const StatusPoint& p : ring.series()) {
    t.push_back(p.unix_seconds);
    seconds.push_back(p.seconds);
    rps.push_back(p.requests_per_second);
    errors.push_back(optional_number(p.error_ratio));
    p50.push_back(optional_number(p.p50));
    p99.push_back(optional_number(p.p99));
    in_flight.push_back(p.in_flight);
    queued.push_back(p.queued);
    load.push_back(optional_number(p.load_ratio));
    ttft50.push_back(optional_number(p.ttft_p50));
    ttft99.push_back(optional_number(p.ttft_p99));
    tokens.push_back(optional_number(p.output_tokens_per_second));
  }
  const StatusWindow w = ring.window();
  json totals = nullptr;
  if (const StatusSnapshot* s = ring.newest()) {
    totals = {{"unix_seconds", s->unix_seconds},
              {"requests", s->requests},
              {"errors", s->errors},
              {"latency_count", s->latency.count()},
              {"in_flight", s->in_flight},
              {"queued", s->queued},
              {"load_ratio", optional_number(s->load_ratio)},
              {"output_tokens", optional_number(s->output_tokens)}};
  }
  return {{"interval_seconds", interval_seconds},
          {"capacity", ring.capacity()},
          {"snapshots", ring.size()},
          {"points",
           {{"t", std::move(t)},
            {"seconds", std::move(seconds)},
            {"requests_per_second", std::move(rps)},
            {"error_ratio", std::move(errors)},
            {"p50_seconds", std::move(p50)},
            {"p99_seconds", std::move(p99)},
            {"in_flight", std::move(in_flight)},
            {"queued", std::move(queued)},
            {"load_ratio", std::move(load)},
            {"ttft_p50_seconds", std::move(ttft50)},
            {"ttft_p99_seconds", std::move(ttft99)},
            {"output_tokens_per_second", std::move(tokens)}}},
          {"window",
           {{"seconds", w.seconds},
            {"requests", w.requests},
            {"errors", w.errors},
            {"error_ratio", ratio_or_null(w.errors, w.requests)},
            {"p50_seconds", optional_number(w.p50)},
            {"p99_seconds", optional_number(w.p99)},
            {"ttft_p50_seconds", optional_number(w.ttft_p50)},
            {"ttft_p99_seconds", optional_number(w.ttft_p99)},
            {"output_tokens", w.output_tokens}}},
          {"totals", std::move(totals)}};
}

json shadow_json(const StatusRing& ring) {
  const StatusSnapshot* s = ring.newest();
  if (s == nullptr || s->shadow.empty()) return nullptr;
  json versions = json::array();
  for (const auto& [version, v] : s->shadow) {
    json outputs = json::array();
    for (const auto& [output, compared] : v.output_compared) {
      auto m = v.output_matches.find(output);
      const double matches = m == v.output_matches.end() ? 0 : m->second;
      outputs.push_back({{"output", output},
                         {"compared", compared},
                         {"matches", matches},
                         {"agreement", ratio_or_null(matches, compared)}});
    }
    const double ratio_p50 = histogram_quantile(0.5, v.latency_ratio);
    const double ratio_p99 = histogram_quantile(0.99, v.latency_ratio);
    versions.push_back(
        {{"version", version},
         {"compared", v.compared},
         {"status_matches", v.status_matches},
         {"status_agreement", ratio_or_null(v.status_matches, v.compared)},
         {"outputs", std::move(outputs)},
         {"latency_ratio_p50", std::isfinite(ratio_p50) ? json(ratio_p50) : json(nullptr)},
         {"latency_ratio_p99", std::isfinite(ratio_p99) ? json(ratio_p99) : json(nullptr)},
         {"dropped", v.dropped},
         {"requests", v.requests}});
  }
  return {{"versions", std::move(versions)}};
}

}  // namespace mlsidecar::status
