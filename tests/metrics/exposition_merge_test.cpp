#include <catch2/catch.hpp>

#include <string>

#include "metrics/exposition_merge.h"

using mlsidecar::metrics::append_model_metrics;

namespace {
const std::string kOwn =
    "# HELP mlsidecar_requests_total Requests.\n"
    "# TYPE mlsidecar_requests_total counter\n"
    "mlsidecar_requests_total{code=\"2xx\"} 3\n"
    "# HELP mlsidecar_process_open_fds Open descriptors.\n"
    "# TYPE mlsidecar_process_open_fds gauge\n"
    "mlsidecar_process_open_fds 12\n";
}  // namespace

TEST_CASE("the model's families follow the sidecar's, colons and histograms included") {
  std::string out = kOwn;
  const std::string model =
      "# HELP vllm:num_requests_running Requests running.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"m\"} 2\n"
      "# HELP process_open_fds Open descriptors.\n"
      "# TYPE process_open_fds gauge\n"
      "process_open_fds 40\n"
      "# TYPE vllm:e2e_request_latency_seconds histogram\n"
      "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 5\n"
      "vllm:e2e_request_latency_seconds_sum 1.5\n"
      "vllm:e2e_request_latency_seconds_count 5\n";
  const auto counts = append_model_metrics(out, model);
  CHECK(out == kOwn + model);
  CHECK(counts.families == 3);
  CHECK(counts.duplicate_families == 0);
  CHECK(counts.invalid_lines == 0);
}

TEST_CASE("a family the sidecar also has is left out whole, once counted") {
  std::string out = kOwn;
  const std::string model =
      "# HELP mlsidecar_requests_total Not ours.\n"
      "# TYPE mlsidecar_requests_total counter\n"
      "mlsidecar_requests_total{code=\"2xx\"} 99\n"
      "mlsidecar_requests_total{code=\"5xx\"} 1\n"
      "model_up 1\n";
  const auto counts = append_model_metrics(out, model);
  CHECK(out == kOwn + "model_up 1\n");
  CHECK(counts.duplicate_families == 1);
  CHECK(counts.families == 1);
}

TEST_CASE("malformed lines are left out, not passed on to fail the whole scrape") {
  std::string out = kOwn;
  const std::string model =
      "good 1\n"
      "9starts_with_digit 1\n"
      "no_value\n"
      "bad_value abc\n"
      "bad_labels{a=\"unterminated} 1\n"
      "labels{a=\"x\\\"y\",b=\"z\"} 2 1700000000000\n"
      "inf +Inf\r\n"
      "\n"
      "# a plain comment\n"
      "# EOF\n";
  const auto counts = append_model_metrics(out, model);
  CHECK(out == kOwn +
                   "good 1\n"
                   "labels{a=\"x\\\"y\",b=\"z\"} 2 1700000000000\n"
                   "inf +Inf\n");
  CHECK(counts.invalid_lines == 4);
}

TEST_CASE("the sidecar's text without a final newline still gets one before the model's") {
  std::string out = "a 1";
  append_model_metrics(out, "b 2\n");
  CHECK(out == "a 1\nb 2\n");
}
