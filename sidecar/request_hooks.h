// What watches a request as it passes, beside the request metrics: the autoscaling signals, the
// drift tap (a sampled, bounded copy of the request and response bodies handed to the drift
// worker) and the LLM stream tap (time to first token, tokens). One RequestHooks lives in each
// connection and is reused for every request on it, so its buffers are allocated once per
// connection, not per request, and only when a part that needs them is on.
//
// Thread safety: none; it belongs to its connection's I/O thread.
#pragma once

#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "metrics/request_metrics.h"
#include "metrics/route.h"
#include "sidecar/state.h"

namespace mlsidecar {

class RequestHooks {
 public:
  using Clock = std::chrono::steady_clock;
  RequestHooks(SidecarState& state, std::size_t thread);
  ~RequestHooks();

  void request_started(const RouteInfo& route, Clock::time_point now);
  void request_body(std::string_view bytes);
  void response_started(const boost::beast::http::response_header<>& head, Clock::time_point now);
  void response_body(std::string_view bytes, Clock::time_point now);
  void response_aborted();  // the model cut the response short
  void request_finished(const metrics::RequestSample& sample, bool client_aborted,
                        Clock::time_point now);
  // Whether this request goes to the access log (a per-connection pseudo-random draw).
  bool sample_access_log(double rate);

 private:
  struct Taps;
  SidecarState& state_;
  std::size_t thread_;
  std::unique_ptr<Taps> taps_;  // null when neither drift nor LLM metrics are on
  Clock::time_point start_{};
  std::uint64_t rng_state_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace mlsidecar
