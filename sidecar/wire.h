// What the sidecar writes on a socket for a message it forwards: the head serialized once into one
// flat buffer, and each body piece with its chunk framing, so that a write is one or a few buffers.
//
// Beast's serializer hands the kernel one buffer per header field (a sendmsg of dozens of iovecs)
// and walks a buffers_cat iterator per byte range; the proxy measured a tenth of its CPU per
// request there. The head is serialized as soon as it is read, before any of the body: the
// trailers a chunked body ends with are added to the parsed head by Beast and so never reach the
// forwarded head.
//
// Thread-safety: plain values, used by one connection at a time.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace mlsidecar::wire {

// Appends "METHOD target HTTP/1.1\r\n", the fields and the blank line (the version as held).
void append_request_head(std::string& out, const boost::beast::http::request_header<>& head);
// Appends "HTTP/1.x code reason\r\n" (the standard reason when none is held), the fields and the
// blank line.
void append_response_head(std::string& out, const boost::beast::http::response_header<>& head);

// A last body piece of at most this many bytes, of a message that is not chunked, is copied behind
// the head still to be sent (absorb_small_body): one buffer, one send(), for a typical answer.
inline constexpr std::size_t kAbsorbBytes = 4 * 1024;

// When the piece qualifies (see kAbsorbBytes), appends it to `head_storage`, which `head` views,
// re-points `head` at the result and sets `size` to 0; otherwise changes nothing.
void absorb_small_body(std::string& head_storage, std::string_view& head, const char* data,
                       std::size_t& size, bool chunked, bool last);

// One write's buffers: the part of the head not yet sent, then a body piece framed for the wire.
// Chunked: "hex\r\n" data "\r\n", and "0\r\n\r\n" after the last piece (never an empty chunk
// before it, which would end the body early); otherwise the data as is.
class Frame {
 public:
  Frame(std::string_view head, const char* data, std::size_t size, bool chunked, bool last);
  std::span<const boost::asio::const_buffer> buffers() const { return {bufs_.data(), count_}; }
  bool empty() const { return count_ == 0; }

 private:
  void add(const void* p, std::size_t n) {
    if (n) bufs_[count_++] = boost::asio::const_buffer(p, n);
  }
  char size_line_[24];
  std::array<boost::asio::const_buffer, 4> bufs_;
  std::size_t count_ = 0;
};

}  // namespace mlsidecar::wire
