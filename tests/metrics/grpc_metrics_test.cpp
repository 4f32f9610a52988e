// mlsidecar_grpc_requests_total: counts per model, method and code, merged over threads, with
// client-chosen method names bounded.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "metrics/grpc_metrics.h"
#include "metrics/request_metrics.h"

using namespace mlsidecar::metrics;

namespace {

// code label -> value, for one model/method.
std::map<std::string, double> codes(const GrpcMetrics& g, const std::string& model,
                                    const std::string& method) {
  std::map<std::string, double> out;
  for (const auto& family : g.Collect()) {
    REQUIRE(family.name == "mlsidecar_grpc_requests_total");
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> l;
      for (const auto& label : m.label) l[label.name] = label.value;
      if (l["model"] == model && l["grpc_method"] == method) out[l["grpc_code"]] = m.counter.value;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("gRPC calls are counted by model, method and code, over every thread") {
  RequestMetrics requests(2, 8, "resnet", "3");
  GrpcMetrics g(2, requests);
  const std::size_t infer = g.method_index("inference.GRPCInferenceService", "ModelInfer");
  const std::size_t other_model = requests.model_index("bert", "1");
  g.shard(0).call_finished(0, infer, 0);
  g.shard(1).call_finished(0, infer, 0);
  g.shard(1).call_finished(0, infer, 14);
  g.shard(0).call_finished(other_model, infer, 4);
  g.shard(0).call_finished(0, infer, 99);  // beyond 16: UNKNOWN

  const auto resnet = codes(g, "resnet", "ModelInfer");
  CHECK(resnet == std::map<std::string, double>{{"OK", 2}, {"UNAVAILABLE", 1}, {"UNKNOWN", 1}});
  // A method with calls has its OK series at 0, so an error ratio has its denominator.
  CHECK(codes(g, "bert", "ModelInfer") ==
        std::map<std::string, double>{{"OK", 0}, {"DEADLINE_EXCEEDED", 1}});
  // Methods nobody called are not exported.
  g.method_index("inference.GRPCInferenceService", "ServerLive");
  CHECK(codes(g, "resnet", "ServerLive").empty());
  CHECK(grpc_code_name(16) == "UNAUTHENTICATED");
  CHECK(grpc_code_name(17) == "UNKNOWN");
}

TEST_CASE("client-chosen method names fold into other beyond the capacity") {
  RequestMetrics requests(1, 4, "m", "1");
  GrpcMetrics g(1, requests);
  std::size_t last = 0;
  for (int i = 0; i < 100; ++i) {
    last = g.method_index("junk.Service" + std::to_string(i), "M");
    g.shard(0).call_finished(0, last, 0);
  }
  CHECK(last == GrpcMetrics::kMethodCapacity - 1);
  std::size_t series = 0;
  for (const auto& family : g.Collect()) series += family.metric.size();
  CHECK(series == GrpcMetrics::kMethodCapacity);  // 15 named + other, OK each
  CHECK(codes(g, "m", "other") == std::map<std::string, double>{{"OK", 85}});
}
