#include <catch2/catch.hpp>

#include <boost/beast/http/message.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/drift/drift_engine.h"
#include "policies/autoscale_signals.h"
#include "sidecar/request_chain.h"
#include "sidecar/request_taps.h"
#include "sidecar/shadow_traffic.h"

using namespace mlsidecar;
using namespace std::chrono_literals;

TEST_CASE("access-log sampling draws anew for every connection") {
  // Each connection has its own sampler. They used to share one constant seed, so the first
  // request of every connection drew the same number: below a rate of 0.86 it was never logged.
  constexpr int kConnections = 2000;
  int first_logged = 0;
  for (int i = 0; i < kConnections; ++i) {
    FractionSampler sampler;
    if (sampler.draw(0.5)) ++first_logged;
  }
  // Binomial(2000, 0.5): 1000 +- 22 (one sigma); the bounds are 9 sigma away.
  CHECK(first_logged > 800);
  CHECK(first_logged < 1200);
}

TEST_CASE("access-log sampling keeps its rate over a connection's requests") {
  FractionSampler sampler(42);
  int logged = 0;
  for (int i = 0; i < 10000; ++i) logged += sampler.draw(0.1) ? 1 : 0;
  CHECK(logged > 800);
  CHECK(logged < 1200);
  FractionSampler never(7), always(7);
  for (int i = 0; i < 1000; ++i) {
    CHECK_FALSE(never.draw(0));
    CHECK(always.draw(1.0));
  }
}

TEST_CASE("the in-flight guard ends what it started on every path") {
  Config config;
  config.threads = 1;
  RequestChain chain(config);
  auto& shard = chain.metrics().shard(0);
  const auto t0 = std::chrono::steady_clock::now();

  SECTION("finished: counted once, out of the gauge") {
    {
      InFlight guard(shard, chain.signals(), t0);
      CHECK(chain.metrics().in_flight() == 1);
      metrics::RequestSample sample;
      sample.status = 200;
      sample.duration_seconds = 0.01;
      guard.finish(sample, t0 + 10ms);
      guard.finish(sample, t0 + 20ms);  // a second finish changes nothing
      CHECK(chain.metrics().in_flight() == 0);
    }
    CHECK(chain.metrics().in_flight() == 0);
  }
  SECTION("abandoned (a session torn down): out of the gauge and of the concurrency signal") {
    { InFlight guard(shard, chain.signals(), t0); }
    CHECK(chain.metrics().in_flight() == 0);
    // Had the request stayed open, the concurrency over the next two minutes would average 1.
    chain.signals().update(t0 + 120s);
    CHECK(chain.signals().inputs().concurrency_stable < 0.01);
  }
}

TEST_CASE("a health check stays out of the autoscaling signals") {
  Config config;
  config.threads = 1;
  RequestChain chain(config);
  const auto t0 = std::chrono::steady_clock::now();
  InFlight probe(chain.metrics().shard(0), chain.signals(), t0, /*load=*/false);
  CHECK(chain.metrics().in_flight() == 1);  // still a request in flight on the sidecar
  chain.signals().update(t0 + 120s);
  CHECK(chain.signals().inputs().concurrency_stable < 0.01);
}

TEST_CASE("the drift tap picks nothing when drift is off") {
  const DriftTap off;
  for (Route r : {Route::predict, Route::infer, Route::generate, Route::other}) {
    const DriftTap::Pick pick = off.pick(0, r);
    CHECK_FALSE(pick.input);
    CHECK_FALSE(pick.output);
  }
}

TEST_CASE("the drift tap hands a V2 gRPC message to the engine as protobuf, or counts it") {
  drift::FeatureProfile x;
  x.name = "x";
  x.kind = drift::FeatureKind::numeric;
  x.count = 4;
  x.std = 1;
  x.edges = {0.0};
  x.ratios = {0.5, 0.5};
  x.sample = {-1.0, -0.5, 0.5, 1.0};
  drift::ReferenceProfile profile;
  profile.features = {x};
  drift::DriftSettings settings;
  settings.format = drift::PayloadFormat::kserve_v1;  // not for gRPC messages
  drift::DriftEngine engine(settings, 1, profile);
  const DriftTap tap(engine);
  // ModelInferRequest{inputs: [{name: "x", datatype: "FP32", shape: [2],
  // contents: {fp32_contents: [1, -1]}}]}, as python3-protobuf encodes it.
  const std::string message(
      "\x2a\x18\x0a\x01\x78\x12\x04\x46\x50\x33\x32\x1a\x01\x02\x2a\x0a\x32\x08\x00\x00\x80"
      "\x3f\x00\x00\x80\xbf",
      26);
  tap.hand_over_v2_grpc(0, drift::Direction::input, Route::infer, false, message);
  tap.hand_over_v2_grpc(0, drift::Direction::input, Route::infer, true, {});  // over the cap
  tap.count_compressed(0);
  tap.count_compressed(0);
  engine.compute_now();
  double window = -1, too_large = -1, compressed = -1;
  for (const auto& family : engine.Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "mlsidecar_drift_window_samples") window = m.gauge.value;
      if (family.name == "mlsidecar_drift_skipped_total" && m.label[0].value == "too_large") {
        too_large = m.counter.value;
      }
      if (family.name == "mlsidecar_drift_skipped_total" && m.label[0].value == "compressed") {
        compressed = m.counter.value;
      }
    }
  }
  CHECK(window == 2);
  CHECK(too_large == 1);
  CHECK(compressed == 2);
}

namespace {

// mlsidecar_shadow_dropped_total{reason} from the chain's collectables.
double shadow_dropped(const RequestChain& chain, const std::string& reason) {
  for (const auto& collectable : chain.collectables()) {
    for (const auto& family : collectable->Collect()) {
      if (family.name != "mlsidecar_shadow_dropped_total") continue;
      for (const auto& m : family.metric) {
        for (const auto& label : m.label) {
          if (label.name == "reason" && label.value == reason) return m.counter.value;
        }
      }
    }
  }
  return -1;
}

struct ShadowedRequest {
  bool chunked = false;
  bool answered = true;  // the model answered (else: the sidecar's own 502)
  bool client_aborted = false;
  std::string_view encoding{};  // the primary's Content-Encoding
};

// The first half of a POST predict through the taps: head and body sent to the model.
void start_request(RequestTaps& taps, std::string_view body, const ShadowedRequest& how = {}) {
  namespace http = boost::beast::http;
  http::request_header<> head;
  head.method(http::verb::post);
  head.target("/v1/models/iris:predict");
  head.set(http::field::content_type, "application/json");
  head.set("x-request-id", "r-1");
  if (how.chunked) {
    head.set(http::field::transfer_encoding, "chunked");
  } else {
    head.set(http::field::content_length, std::to_string(body.size()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  taps.request_started(classify_target(head.target()), head, t0);
  taps.request_sent(t0);
  taps.request_body(body);
  taps.request_complete();
}

// The second half: the model's answer (200), or none.
void finish_request(RequestTaps& taps, const ShadowedRequest& how = {}) {
  namespace http = boost::beast::http;
  const auto t1 = std::chrono::steady_clock::now() + 1ms;
  metrics::RequestSample sample;
  sample.status = 502;
  if (how.answered) {
    http::response_header<> res;
    res.result(200);
    res.set(http::field::content_type, "application/json");
    if (!how.encoding.empty()) res.set(http::field::content_encoding, how.encoding);
    taps.response_started(res, t1);
    taps.response_body(R"({"predictions":[1]})", t1);
    sample.status = 200;
  }
  sample.duration_seconds = 0.001;
  taps.request_finished(sample, how.client_aborted, t1);
}

// One POST predict through the taps, answered 200.
void shadowed_request(RequestTaps& taps, std::string_view body, const ShadowedRequest& how = {}) {
  start_request(taps, body, how);
  finish_request(taps, how);
}

}  // namespace

TEST_CASE("the shadow tap does nothing when --shadow-upstream is empty") {
  const ShadowTap off;
  CHECK_FALSE(off.on());
  CHECK(off.decide(0, Route::predict, true, 10, std::chrono::steady_clock::now()) ==
        ShadowDecision::skip);
}

TEST_CASE("shadow copies are capped by rate, size and queue, and counted when dropped") {
  Config config;
  config.threads = 1;
  config.shadow_upstream = "127.0.0.1:9";  // never contacted: the worker is not started
  config.shadow_fraction = 1;
  config.shadow_max_body = 100;
  RequestChain chain(config);
  RequestTaps taps(chain, 0);

  SECTION("rate: one second of --shadow-max-rps, then dropped") {
    config.shadow_max_rps = 3;
    RequestChain capped(config);
    RequestTaps capped_taps(capped, 0);
    for (int i = 0; i < 5; ++i) shadowed_request(capped_taps, R"({"instances":[1]})");
    CHECK(shadow_dropped(capped, "rate_limited") == 2);
    CHECK(shadow_dropped(capped, "queue_full") == 0);
    capped.stop();
    CHECK(shadow_dropped(capped, "shutdown") == 3);  // queued, never sent
  }
  SECTION("size: a declared or a chunked body over --shadow-max-body is not copied") {
    shadowed_request(taps, std::string(101, 'x'));
    shadowed_request(taps, std::string(101, 'x'), {.chunked = true});
    shadowed_request(taps, std::string(100, 'x'), {.chunked = true});
    CHECK(shadow_dropped(chain, "too_large") == 2);
    chain.stop();
    CHECK(shadow_dropped(chain, "shutdown") == 1);
  }
  SECTION("queue: a full queue drops the copy at once") {
    config.shadow_max_rps = 0;
    RequestChain open(config);
    RequestTaps open_taps(open, 0);
    const auto slots = static_cast<int>(ShadowTraffic::kQueueSlots);
    for (int i = 0; i < slots + 3; ++i) shadowed_request(open_taps, R"({"instances":[1]})");
    CHECK(shadow_dropped(open, "queue_full") == 3);
    open.stop();
    CHECK(shadow_dropped(open, "shutdown") == slots);
  }
  SECTION("not sent, and no token spent: the client left, or the primary never answered") {
    config.shadow_max_rps = 1;  // one token: each request below would spend it
    RequestChain one(config);
    RequestTaps one_taps(one, 0);
    shadowed_request(one_taps, "{}", {.client_aborted = true});
    shadowed_request(one_taps, "{}", {.answered = false});
    start_request(one_taps, "{}");  // the next request starts: this one never finished
    shadowed_request(one_taps, "{}");
    CHECK(shadow_dropped(one, "abandoned") == 2);
    CHECK(shadow_dropped(one, "primary_failed") == 1);
    CHECK(shadow_dropped(one, "rate_limited") == 0);
    shadowed_request(one_taps, "{}");  // now the token is spent
    CHECK(shadow_dropped(one, "rate_limited") == 1);
    one.stop();
    CHECK(shadow_dropped(one, "shutdown") == 1);  // the one copy queued
    CHECK(one.shadow().gathering(0) == 0);
  }
}

TEST_CASE("copies being gathered on an I/O thread stay within its byte budget") {
  Config config;
  config.threads = 1;
  config.shadow_upstream = "127.0.0.1:9";
  config.shadow_fraction = 1;
  config.shadow_max_rps = 0;  // no rate cap: only the budget bounds them
  config.shadow_max_body = 1 << 20;
  RequestChain chain(config);
  const std::size_t budget = ShadowTraffic::gather_bytes(config.shadow_max_body);
  const std::string body(1 << 20, 'x');
  std::vector<std::unique_ptr<RequestTaps>> connections;
  for (int i = 0; i < 40; ++i) {
    connections.push_back(std::make_unique<RequestTaps>(chain, 0));
    start_request(*connections.back(), body);  // a slow primary: none has answered yet
    CHECK(chain.shadow().gathering(0) <= budget);
  }
  const double refused = shadow_dropped(chain, "memory");
  // Each copy is 1 MiB and its head: 15 fit in 16 MiB, the other 25 are refused.
  const std::size_t fitting = (budget - 1) / body.size();  // whole copies only
  CHECK(refused == static_cast<double>(40 - fitting));
  for (auto& taps : connections) finish_request(*taps);
  CHECK(chain.shadow().gathering(0) == 0);  // handed over or dropped: the budget is free again
  CHECK(shadow_dropped(chain, "memory") == refused);
  CHECK(shadow_dropped(chain, "queue_full") > 0);  // the queue holds 8 MiB
  chain.stop();
}
