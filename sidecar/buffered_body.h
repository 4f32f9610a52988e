// Coalescing a streamed body: the part of it already read from the socket is parsed into the relay
// buffer at once, so that a model's burst of small events (SSE tokens, small chunks) leaves the
// sidecar in one write instead of one write per event.
//
// Thread-safety: a free function on the caller's parser and buffer; no shared state.
#pragma once

#include <boost/beast/http/error.hpp>
#include <cstddef>

namespace mlsidecar {

// Feeds `parser` (a Beast parser of a buffer_body) the bytes already in `buffered` (a Beast
// dynamic buffer), without reading more, into relay[got, capacity); `got` grows by what the body
// gained. Stops when the relay buffer is full, the buffered bytes run out or are not enough to
// make progress, or the message is done. Returns false when those bytes are not a valid body.
template <class Parser, class DynamicBuffer>
bool parse_buffered_body(Parser& parser, DynamicBuffer& buffered, char* relay, std::size_t capacity,
                         std::size_t& got) {
  auto& body = parser.get().body();
  while (got < capacity && buffered.size() > 0 && !parser.is_done()) {
    body.data = relay + got;
    body.size = capacity - got;
    boost::system::error_code ec;
    const std::size_t used = parser.put(buffered.data(), ec);
    buffered.consume(used);
    const std::size_t filled = capacity - got - body.size;
    got += filled;
    if (ec == boost::beast::http::error::need_more ||
        ec == boost::beast::http::error::need_buffer) {
      break;
    }
    if (ec) return false;
    if (used == 0 && filled == 0) break;
  }
  return true;
}

}  // namespace mlsidecar
