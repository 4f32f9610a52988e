// Vocabulary shared by ServerConnection and ClientConnection: stream ids, header fields as views,
// what feeding bytes decided, and why a connection or stream was refused (a metric label).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace mlsidecar::h2 {

using Clock = std::chrono::steady_clock;
using StreamId = std::int32_t;

// One header field as received or to send. Views: what an event hands over is valid only during
// the event; what the owner submits is copied before the call returns.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Why something was refused; refusal_name() gives the metric label.
enum class Refusal : std::uint8_t {
  none,
  // The connection (GOAWAY, then close):
  protocol_error,      // nghttp2 rejected the bytes: bad preface, framing, HPACK, flow control
  rapid_reset,         // too many RST_STREAM (CVE-2023-44487)
  continuation_flood,  // too many CONTINUATION frames in one header block (CVE-2024-27316)
  settings_flood,      // too many SETTINGS frames
  ping_flood,          // too many PING frames
  empty_data_flood,    // too many DATA frames without payload or END_STREAM
  ack_flood,           // the peer does not read the ACKs it asks for (nghttp2's outbound cap)
  too_many_glitches,   // too many suspect events of all kinds together
  // One stream (the connection stays):
  header_list_too_large,  // a header block over Limits::max_header_list_bytes (HPACK bomb)
  message_too_large,      // a gRPC message over Limits::max_message_bytes
  request_too_large,      // a non-gRPC body over Limits::max_request_bytes
  malformed_message,      // a gRPC message prefix with a flag byte other than 0 or 1
};

std::string_view refusal_name(Refusal reason);

enum class Verdict : std::uint8_t {
  keep_open,
  close,  // write what pending_output() still holds (GOAWAY included), then close
};

struct FeedResult {
  Verdict verdict = Verdict::keep_open;
  Refusal reason = Refusal::none;  // why, when the connection was refused
};

}  // namespace mlsidecar::h2
