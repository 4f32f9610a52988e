// The limits of one HTTP/2 connection, server or client side: what is advertised in SETTINGS,
// what nghttp2 enforces, and the flood counters that are ours (nghttp2 1.52 has a reset limiter
// and a CONTINUATION cap, but nothing for SETTINGS, PING or empty-frame floods, nor a glitch cap).
// Defaults are for a sidecar that relays inference calls to one model; docs/http2.md has the
// memory bound they give.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mlsidecar::h2 {

// A token bucket: `burst` events at once, refilled at `per_second`. The defaults below leave a
// well-behaved peer (a handful of SETTINGS, a keepalive PING every few seconds, gRPC's BDP pings,
// cancellations) far below them.
struct Rate {
  std::uint32_t burst = 0;
  std::uint32_t per_second = 0;
};

struct Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS advertised; nghttp2 refuses more with REFUSED_STREAM. 100 is
  // the least RFC 9113 recommends and what nginx and grpc-java use.
  std::uint32_t max_concurrent_streams = 100;
  // SETTINGS_MAX_HEADER_LIST_SIZE: the decoded size (name + value + 32 per field, RFC 9113
  // 6.5.2) of one header block. HPACK turns a few bytes into kilobytes, so this is counted on
  // the decoded fields; a block over it is refused (431 for a request). 64 KiB is Envoy's 60 KiB
  // rounded; gRPC's own default metadata cap is 8 KiB.
  std::uint32_t max_header_list_bytes = 64 * 1024;
  // SETTINGS_MAX_FRAME_SIZE: the largest frame the peer may send us. 16 KiB is the protocol's
  // default; larger frames only add latency for other streams on the connection.
  std::uint32_t max_frame_size = 16 * 1024;
  // SETTINGS_INITIAL_WINDOW_SIZE, per stream, and our connection-level receive window. Data the
  // owner has not consume()d holds the window shut, so these bound what a connection can make us
  // hold: min(connection_window, streams x stream_window) bytes.
  std::uint32_t stream_window = 256 * 1024;
  std::uint32_t connection_window = 1024 * 1024;
  // The largest gRPC message (its 5-byte prefix's length) a request may carry; over it the
  // stream is refused (the owner answers RESOURCE_EXHAUSTED). 4 MiB is gRPC's default.
  std::uint32_t max_message_bytes = 4 * 1024 * 1024;
  // The largest body of a non-gRPC request (0: unlimited); the owner answers 413.
  std::uint64_t max_request_bytes = 0;
  // CONTINUATION frames after one HEADERS (CVE-2024-27316). Real clients send none or one.
  std::uint32_t max_continuations = 8;
  // Control frames nghttp2 may queue for the peer (PING and SETTINGS ACKs) before it gives up on a
  // peer that does not read: nghttp2's default.
  std::uint32_t max_outbound_ack = 1000;

  // Frames that cost us work but carry nothing; over the rate the connection gets GOAWAY
  // ENHANCE_YOUR_CALM and closes.
  Rate settings{.burst = 20, .per_second = 5};      // non-ACK SETTINGS
  Rate ping{.burst = 50, .per_second = 10};         // non-ACK PING
  Rate empty_data{.burst = 100, .per_second = 20};  // DATA without payload or END_STREAM
  // RST_STREAM from the client (CVE-2023-44487, rapid reset): gRPC cancellations are legitimate,
  // a thousand a second are not. nghttp2's own limiter (1000, 33/s) is left as a backstop above.
  Rate resets{.burst = 200, .per_second = 50};
  // The cap on suspect events of all kinds together: empty DATA frames, frames nghttp2 found
  // invalid, streams refused by a limit. Later nghttp2 releases call these glitches.
  Rate glitches{.burst = 500, .per_second = 50};
};

}  // namespace mlsidecar::h2
