// In-memory streams for the HTTP fuzz targets: the bytes a peer sends, handed out in reads of a
// fixed size as a socket would, and a sink that records what is written. Both satisfy Beast's
// SyncReadStream / SyncWriteStream, so the targets call the same read/write algorithms as the proxy
// (http::read_header, http::read_some, http::write on a buffer_body serializer).
//
// The limits below mirror sidecar/proxy_session.cpp (they are private there): keep them in step.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <string>
#include <string_view>
#include "tests/fuzz/fuzz_check.h"

namespace mlsidecar::fuzz {

namespace net = boost::asio;
using boost::system::error_code;

inline constexpr std::size_t kClientHeaderLimit = 16 * 1024;  // Config::max_header_bytes default
inline constexpr std::size_t kUpstreamHeaderLimit = 64 * 1024;
inline constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();
// The proxy relays through 16 KiB; a small buffer makes every fuzz input span many relay steps.
inline constexpr std::size_t kRelaySize = 61;

// Bytes printed with an invariant failure (what the peer received), C-escaped.
inline std::string_view& failure_context() {
  static std::string_view context;
  return context;
}

[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
  if (!failure_context().empty()) {
    std::string escaped;
    for (unsigned char c : failure_context()) {
      if (c == '\n')
        escaped += "\\n\n";
      else if (c == '\r')
        escaped += "\\r";
      else if (c < 0x20 || c >= 0x7f || c == '\\') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        escaped += hex;
      } else {
        escaped += static_cast<char>(c);
      }
    }
    std::fprintf(stderr, "bytes the peer received:\n%s\n", escaped.c_str());
  }
  std::abort();
}

// Fails the run with a message: libFuzzer reports the abort and saves the input.

// Reads hand out at most `read_size` bytes; eof once the bytes are used up (the peer closed).
class InputStream {
 public:
  InputStream(std::string_view bytes, std::size_t read_size)
      : bytes_(bytes), read_size_(std::max<std::size_t>(1, read_size)) {}

  bool exhausted() const { return bytes_.empty(); }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    std::size_t total = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::mutable_buffer b(*it);
      std::size_t n = std::min({b.size(), bytes_.size(), read_size_ - total});
      std::copy_n(bytes_.data(), n, static_cast<char*>(b.data()));
      bytes_.remove_prefix(n);
      total += n;
      if (total == read_size_ || bytes_.empty()) break;
    }
    return total;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  std::size_t read_size_;
};

// Appends everything written to `out`.
class StringSink {
 public:
  std::string out;

  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    ec = {};
    std::size_t total = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::const_buffer b(*it);
      out.append(static_cast<const char*>(b.data()), b.size());
      total += b.size();
    }
    return total;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    error_code ec;
    return write_some(buffers, ec);
  }
};

// A read size chosen from the input itself, so that a given input always replays the same way
// while the corpus as a whole covers heads and bodies split at every kind of point.
inline std::size_t read_size_for(std::string_view bytes) {
  std::size_t h = bytes.size();
  for (unsigned char c : bytes.substr(0, 16)) h = h * 31 + c;
  static constexpr std::size_t kSizes[] = {1, 2, 3, 7, 16, 64, 512, 8192};
  return kSizes[h % (sizeof kSizes / sizeof kSizes[0])];
}

}  // namespace mlsidecar::fuzz
