// What watches a request as it passes, beside the request metrics: autoscaling signals, the drift
// tap (a sampled, bounded copy of the request and response bodies handed to the drift worker) and
// the LLM stream tap. One RequestHooks lives in each connection and is reused for every request on
// it, so its buffers are allocated once per connection, not per request.
//
// Thread safety: none; it belongs to its connection's I/O thread.
#pragma once

#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/request_metrics.h"
#include "metrics/route.h"
#include "sidecar/state.h"

namespace mlsidecar {

class RequestHooks {
 public:
  using Clock = std::chrono::steady_clock;
  RequestHooks();
  ~RequestHooks();

  void request_started(SidecarState& state, std::size_t thread, const RouteInfo& route,
                       const boost::beast::http::request_header<>& head, Clock::time_point now);
  void request_body(std::string_view bytes);
  void response_started(const boost::beast::http::response_header<>& head, Clock::time_point now);
  void response_body(std::string_view bytes, Clock::time_point now);
  void response_aborted();
  void request_finished(SidecarState& state, std::size_t thread, const metrics::RequestSample& sample,
                        bool client_aborted, Clock::time_point now);
  // Whether this request goes to the access log (a per-connection pseudo-random draw).
  bool sample_access_log(double rate);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // created on first use of an optional part
  std::uint64_t rng_state_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace mlsidecar
