// Which requests are copied to the shadow: the decision an I/O thread takes when a request's head
// has arrived, before any of its body. Pure logic with the time and the random draw passed in.
//
// A request is copied when, in this order: its route is safe to repeat (predict, infer, generate:
// model calls, no side effects the model server promises to keep), the per-connection draw falls
// under --shadow-fraction, its declared body fits --shadow-max-body, and the thread's token
// bucket has a token. The first two say nothing about the shadow (skip, not counted); the last
// two are copies not sent, counted by reason. A copy allowed here but not sent in the end (the
// client left, the primary gave no answer, ...) gives its token back (refund()).
//
// The requests/s cap is split evenly across the I/O threads, each with its own bucket (no shared
// state on the request path). A bucket holds one second of its rate, at least one token:
// with --shadow-max-rps 50 on 2 threads, each thread sends 25 copies/s at most, in bursts of 25.
//
// Thread safety: none; one ShadowGate per I/O thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "metrics/route.h"

namespace mlsidecar {

enum class ShadowDecision : std::uint8_t {
  skip,          // not a model call, or not drawn: nothing to count
  copy,          // copy this request
  too_large,     // drawn, but its body is over --shadow-max-body
  rate_limited,  // drawn, but the thread's share of --shadow-max-rps is spent
};

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // `rate` tokens per second (0: no limit), at most `burst` kept.
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  bool take(Clock::time_point now) {
    if (rate_ <= 0) return true;
    if (now > last_) {
      tokens_ =
          std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
      last_ = now;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  // Gives back a token taken for something that did not happen after all.
  void refund() {
    if (rate_ > 0) tokens_ = std::min(burst_, tokens_ + 1);
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

inline bool is_repeatable_model_call(Route route) {
  return route == Route::predict || route == Route::infer || route == Route::generate;
}

class ShadowGate {
 public:
  using Clock = std::chrono::steady_clock;
  // `max_rps` for the whole process (0: no cap), shared by `threads` gates.
  ShadowGate(double max_rps, unsigned threads, std::size_t max_body, Clock::time_point now)
      : bucket_(max_rps / std::max(1u, threads), std::max(1.0, max_rps / std::max(1u, threads)),
                now),
        max_body_(max_body) {}

  // `drawn`: the fraction draw came up for this request; `content_length`: the body size the
  // head declares (nullopt for a chunked body, which is checked as it arrives).
  ShadowDecision decide(Route route, bool drawn, std::optional<std::uint64_t> content_length,
                        Clock::time_point now) {
    if (!is_repeatable_model_call(route) || !drawn) return ShadowDecision::skip;
    if (content_length && *content_length > max_body_) return ShadowDecision::too_large;
    return bucket_.take(now) ? ShadowDecision::copy : ShadowDecision::rate_limited;
  }
  // A copy decide() allowed was not sent (the client left, the primary failed, ...): its token
  // goes back, so that such requests do not spend the rate.
  void refund() { bucket_.refund(); }

 private:
  TokenBucket bucket_;
  std::size_t max_body_;
};

}  // namespace mlsidecar
