#include <catch2/catch.hpp>

#include "metrics/route.h"

using mlsidecar::classify_target;
using mlsidecar::Route;

TEST_CASE("KServe V1 and TF Serving paths are predict, with model and version") {
  auto r = classify_target("/v1/models/iris:predict");
  CHECK(r.route == Route::predict);
  CHECK(r.model == "iris");
  CHECK(r.version.empty());
  r = classify_target("/v1/models/resnet/versions/3:classify?x=1");
  CHECK(r.route == Route::predict);
  CHECK(r.model == "resnet");
  CHECK(r.version == "3");
  CHECK(classify_target("/v1/models/iris").route == Route::health);
  CHECK(classify_target("/v1/models/iris:explain").route == Route::other);
}

TEST_CASE("Open Inference Protocol V2 paths") {
  auto r = classify_target("/v2/models/bert/versions/7/infer");
  CHECK(r.route == Route::infer);
  CHECK(r.model == "bert");
  CHECK(r.version == "7");
  r = classify_target("/v2/models/bert/infer");
  CHECK(r.route == Route::infer);
  CHECK(r.version.empty());
  CHECK(classify_target("/v2/models/bert/ready").route == Route::health);
  CHECK(classify_target("/v2/models/bert").route == Route::health);
  CHECK(classify_target("/v2/health/ready").route == Route::health);
  CHECK(classify_target("/v2/models/bert/generate").route == Route::other);
}

TEST_CASE("OpenAI and Ollama paths are generate; the rest is other") {
  CHECK(classify_target("/v1/chat/completions").route == Route::generate);
  CHECK(classify_target("/v1/completions?stream=true").route == Route::generate);
  CHECK(classify_target("/api/chat").route == Route::generate);
  CHECK(classify_target("/healthz").route == Route::health);
  CHECK(classify_target("/predict").route == Route::other);
  CHECK(classify_target("").route == Route::other);
  CHECK(classify_target("/v1/models/").model.empty());
}
