// The per-connection side of the request chain's body taps (parts 4 and 5 of request_chain.h):
// the LLM stream tap (time to first token, tokens) and the drift tap (a sampled, bounded copy of
// the request and response bodies handed to the drift worker). One RequestTaps lives in each
// connection and is reused for every request on it, so its buffers are allocated once per
// connection, not per request, and only when a request is sampled.
//
// Thread safety: none; it belongs to its connection's I/O thread.
#pragma once

#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/llm/generation_tap.h"
#include "metrics/request_metrics.h"
#include "metrics/route.h"
#include "sidecar/request_chain.h"

namespace mlsidecar {

// Draws which requests go to the access log (--access-log-sample). Each sampler starts from its
// own seed: the default one takes the next value of its thread's splitmix64 sequence, which is
// seeded once per thread from std::random_device, so that no two connections draw alike and the
// first request of a connection is as likely to be logged as any other.
class AccessLogSampler {
 public:
  AccessLogSampler();
  explicit AccessLogSampler(std::uint64_t seed);
  // True with probability `rate` (0 never, 1 always).
  bool draw(double rate);

 private:
  std::uint64_t state_;
};

class RequestTaps {
 public:
  using Clock = std::chrono::steady_clock;
  RequestTaps(const RequestChain& chain, std::size_t thread);

  void request_started(const RouteInfo& route, Clock::time_point now);
  void request_body(std::string_view bytes);
  void response_started(const boost::beast::http::response_header<>& head);
  void response_body(std::string_view bytes, Clock::time_point now);
  void response_aborted();  // the model cut the response short
  void request_finished(const metrics::RequestSample& sample, bool client_aborted,
                        Clock::time_point now);
  // The model a tapped generation request names in its body (OpenAI's `model`), before
  // request_finished(); empty when none or untapped.
  std::string_view generation_model() const {
    return tap_active_ ? tap_.model() : std::string_view{};
  }
  // Whether this request goes to the access log.
  bool sample_access_log(double rate) { return access_log_.draw(rate); }

 private:
  static void append(std::string& to, std::string_view bytes, std::size_t cap, bool& overflow);

  const RequestChain& chain_;
  std::size_t thread_;
  AccessLogSampler access_log_;

  // The current request; the strings keep their capacity between requests.
  Clock::time_point start_{};
  Route route_ = Route::other;
  DriftTap::Pick drift_{};
  bool llm_ = false;  // a generation route: the LLM tap reads its request and response
  bool request_overflow_ = false, response_overflow_ = false;
  bool model_aborted_ = false;
  std::size_t request_cap_ = 0, response_cap_ = 0;
  std::string request_body_, response_body_;
  llm::GenerationTap tap_;
  bool tap_active_ = false;
};

}  // namespace mlsidecar
