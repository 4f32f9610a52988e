#include "sidecar/h2/flood_guard.h"

#include <algorithm>
#include <chrono>

namespace mlsidecar::h2 {

namespace {
// RFC 9113 frame types and flags; nghttp2.h is kept out of this unit so the guard is plain code.
constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                       kContinuation = 0x9;
constexpr std::uint8_t kAck = 0x1, kEndStream = 0x1;
}  // namespace

TokenBucket::TokenBucket(Rate rate) : rate_(rate), tokens_(rate.burst) {}

bool TokenBucket::take(Clock::time_point now) {
  if (started_ && now > last_) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min<double>(rate_.burst, tokens_ + seconds * rate_.per_second);
  }
  started_ = true;
  last_ = std::max(last_, now);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

FloodGuard::FloodGuard(const Limits& limits)
    : max_continuations_(limits.max_continuations),
      settings_(limits.settings),
      ping_(limits.ping),
      empty_data_(limits.empty_data),
      resets_(limits.resets),
      glitches_(limits.glitches) {}

Refusal FloodGuard::on_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t length,
                             bool server, Clock::time_point now) {
  switch (type) {
    case kHeaders:
      continuations_ = 0;
      return Refusal::none;
    case kContinuation:
      return ++continuations_ > max_continuations_ ? Refusal::continuation_flood : Refusal::none;
    case kSettings:
      if (flags & kAck) return Refusal::none;
      return settings_.take(now) ? Refusal::none : Refusal::settings_flood;
    case kPing:
      if (flags & kAck) return Refusal::none;
      return ping_.take(now) ? Refusal::none : Refusal::ping_flood;
    case kData:
      if (length != 0 || (flags & kEndStream)) return Refusal::none;
      if (!empty_data_.take(now)) return Refusal::empty_data_flood;
      return on_glitch(now);
    case kRstStream:
      if (!server) return Refusal::none;
      if (!resets_.take(now)) return Refusal::rapid_reset;
      return Refusal::none;
    default:
      return Refusal::none;
  }
}

Refusal FloodGuard::on_glitch(Clock::time_point now) {
  return glitches_.take(now) ? Refusal::none : Refusal::too_many_glitches;
}

}  // namespace mlsidecar::h2
