// The per-connection side of the request chain's body taps (parts 4 to 6 of request_chain.h):
// the LLM stream tap (time to first token, tokens), the drift tap (a sampled, bounded copy of
// the request and response bodies handed to the drift worker) and the shadow tap (a sampled copy
// of a model call and the primary's answer, handed to the shadow worker). One RequestTaps lives
// in each connection and is reused for every request on it, so its buffers are allocated once per
// connection, not per request, and only when a request is sampled. A shadow copy's buffers go
// with the copy into the queue: the connection keeps none, and while it gathers them they count
// against its I/O thread's budget (ShadowTraffic::reserve). A copy that is not sent in the end is
// counted by reason (too_large, memory, abandoned, primary_failed) and gives its token back.
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
#include "sidecar/shadow_gate.h"
#include "sidecar/shadow_queue.h"

namespace mlsidecar {

namespace shadow {
enum class DropReason : std::uint8_t;
}

// Draws which requests go to the access log (--access-log-sample) or to the shadow
// (--shadow-fraction), one sampler per purpose and connection. Each sampler starts from its
// own seed: the default one takes the next value of its thread's splitmix64 sequence, which is
// seeded once per thread from std::random_device, so that no two connections draw alike and the
// first request of a connection is as likely to be logged as any other.
class FractionSampler {
 public:
  FractionSampler();
  explicit FractionSampler(std::uint64_t seed);
  // True with probability `rate` (0 never, 1 always).
  bool draw(double rate);

 private:
  std::uint64_t state_;
};

class RequestTaps {
 public:
  using Clock = std::chrono::steady_clock;
  RequestTaps(const RequestChain& chain, std::size_t thread);

  // `head`: the request head as it goes to the model (x-request-id set, hop-by-hop fields gone).
  void request_started(const RouteInfo& route, const boost::beast::http::request_header<>& head,
                       Clock::time_point now);
  // The request's first byte is about to be written to the model (after connect); again for a
  // replay on a new connection.
  void request_sent(Clock::time_point now) { sent_ = now; }
  void request_body(std::string_view bytes);
  // The request's body has been read whole (or it had none).
  void request_complete() { request_complete_ = true; }
  // The model's response head, read at `now`.
  void response_started(const boost::beast::http::response_header<>& head, Clock::time_point now);
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
  void start_shadow_copy(const RouteInfo& route, const boost::beast::http::request_header<>& head,
                         Clock::time_point now);
  void finish_shadow_copy(bool client_aborted);
  // Appends `bytes` to a part of the copy within the thread's budget; past it, drops the copy.
  bool gather_shadow(std::string& to, std::string_view bytes);
  // Makes a part of the copy hold `capacity` bytes within the budget; past it, drops the copy.
  bool grow_shadow(std::string& to, std::size_t capacity);
  void drop_shadow_copy(shadow::DropReason reason);

  const RequestChain& chain_;
  std::size_t thread_;
  FractionSampler access_log_;
  FractionSampler shadow_draw_;

  // The current request; the strings keep their capacity between requests.
  Clock::time_point start_{};
  Clock::time_point sent_{};        // the request's first byte to the model
  Clock::time_point model_done_{};  // the model's last byte read (head, then each body piece)
  Route route_ = Route::other;
  DriftTap::Pick drift_{};
  bool llm_ = false;  // a generation route: the LLM tap reads its request and response
  bool request_overflow_ = false, response_overflow_ = false;
  bool model_aborted_ = false;
  std::size_t request_cap_ = 0, response_cap_ = 0;
  std::string request_body_, response_body_;
  llm::GenerationTap tap_;
  bool tap_active_ = false;
  bool request_complete_ = false;
  // Part 6: the copy being gathered when shadow_ is copy. Empty between copies.
  ShadowDecision shadow_ = ShadowDecision::skip;
  bool primary_answered_ = false;    // the model's response head arrived
  std::size_t shadow_reserved_ = 0;  // bytes of the copy counted in the thread's budget
  ShadowCopy shadow_copy_;
};

}  // namespace mlsidecar
