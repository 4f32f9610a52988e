// Telling HTTP/2 with prior knowledge from HTTP/1.1 on one port, by the first bytes a client
// sends. A client that speaks HTTP/2 cleartext without upgrading opens with the fixed 24-byte
// connection preface (RFC 9113 section 3.4); no HTTP/1.1 request line can start that way, since
// "PRI" is no method anyone serves and "HTTP/2.0" no HTTP/1 version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlsidecar::h2 {

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class Protocol : std::uint8_t {
  need_more,  // the bytes so far are a prefix of the preface: read more before deciding
  h2,         // the whole preface is there (ServerConnection reads it again from the start)
  http1,      // anything else
};

// Decides from the first bytes read on a connection; `first_bytes` may be of any length. Bytes
// that are a prefix of the preface (nothing at all included) say need_more, so the session reads
// again within its header timeout instead of guessing from "P"; end of stream is its to see.
Protocol classify_preface(std::string_view first_bytes);

}  // namespace mlsidecar::h2
