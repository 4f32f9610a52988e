#include <catch2/catch.hpp>

#include "sidecar/metrics_url.h"

using mlsidecar::parse_metrics_url;

TEST_CASE("--merge-metrics URLs: an address on the pod, a port, a path") {
  auto vllm = parse_metrics_url("http://127.0.0.1:8000/metrics");
  REQUIRE(vllm);
  CHECK(vllm->host == "127.0.0.1");
  CHECK(vllm->port == 8000);
  CHECK(vllm->path == "/metrics");
  auto triton = parse_metrics_url("http://localhost:8002");
  REQUIRE(triton);
  CHECK(triton->host == "127.0.0.1");
  CHECK(triton->port == 8002);
  CHECK(triton->path == "/metrics");
  auto v6 = parse_metrics_url("http://[::1]:9100/stats/prometheus?x=1");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9100);
  CHECK(v6->path == "/stats/prometheus?x=1");
  CHECK(parse_metrics_url("http://10.0.0.7/metrics")->port == 80);
}

TEST_CASE("--merge-metrics URLs that are refused") {
  for (const char* bad : {"https://127.0.0.1:8000/metrics", "127.0.0.1:8000", "http://model:8000/",
                          "http://127.0.0.1:0/", "http://127.0.0.1:70000/", "http://[::1/",
                          "http://[::1]x/", "http://:8000/", ""}) {
    CHECK_FALSE(parse_metrics_url(bad));
  }
}
