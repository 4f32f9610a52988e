// Our flood counters for one HTTP/2 connection: a token bucket per kind of frame that costs work
// and carries nothing, and one for all suspect events together (the "glitches" later nghttp2
// releases count). Fed frame headers before nghttp2 acts on them, so a flood is cut before the
// frames are processed.
//
// Example with Rate{burst = 3, per_second = 1}: three PINGs at t=0 pass, a fourth at t=0 trips;
// at t=2s two tokens are back.
//
// Thread safety: none; one per connection, on its I/O thread. Time is an argument.
#pragma once

#include <cstdint>

#include "sidecar/h2/limits.h"
#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

class TokenBucket {
 public:
  TokenBucket() = default;
  explicit TokenBucket(Rate rate);
  // Takes one token; false when none is left (the caller refuses).
  bool take(Clock::time_point now);

 private:
  Rate rate_;
  double tokens_ = 0;
  Clock::time_point last_{};
  bool started_ = false;
};

class FloodGuard {
 public:
  explicit FloodGuard(const Limits& limits);

  // A frame header as received (RFC 9113 frame types); `server`: whether we are the server, so
  // that RST_STREAM counts as a client's reset. Returns the refusal that trips, or none.
  Refusal on_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t length, bool server,
                   Clock::time_point now);
  // Anything else suspect: an invalid frame, a refused stream.
  Refusal on_glitch(Clock::time_point now);

 private:
  std::uint32_t max_continuations_;
  std::uint32_t continuations_ = 0;  // in the header block being received
  TokenBucket settings_, ping_, empty_data_, resets_, glitches_;
};

}  // namespace mlsidecar::h2
