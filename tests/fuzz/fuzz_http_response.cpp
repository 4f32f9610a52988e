// Fuzz target: bytes from the model, through the response path of sidecar/proxy_session.cpp
// (read_response_head: interim responses dropped, 101 refused, framing_problem; then the head
// edits and relay_response through a small buffer, coalescing what is already buffered) to the
// bytes the client receives.
//
// Input: the first byte chooses the request the response answers (bit 0: HEAD; bit 1: the client
// spoke HTTP/1.0), the rest is what the model sends. Seeds start with '0'..'3'.
//
// Invariants: a response the proxy refuses (502) sends the client nothing; a relayed one parses at
// the client as exactly one response with the model's status and body, self-delimiting whenever it
// is marked keep-alive, and without hop-by-hop fields.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/dynamic_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <optional>
#include <string>

#include "sidecar/buffered_body.h"
#include "sidecar/http_rules.h"
#include "sidecar/wire.h"
#include "tests/fuzz/http_fuzz_support.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace mlsidecar::fuzz;
using ResponseParser = http::response_parser<http::buffer_body>;

struct Relayed {
  unsigned status = 0;
  std::string body;
  bool bodyless = false;
  bool complete = false;  // false: the model's body broke off; the client connection is closed
};

// ProxySession::read_response_head; false: 502 upstream_invalid (or reset).
bool read_response_head(InputStream& model, beast::flat_buffer& buf,
                        std::optional<ResponseParser>& res, bool head_request) {
  error_code ec;
  for (;;) {
    res.emplace();
    res->header_limit(static_cast<std::uint32_t>(kUpstreamHeaderLimit));
    res->body_limit(kNoBodyLimit);
    if (head_request) res->skip(true);
    http::read_header(model, buf, *res, ec);
    if (ec) return false;
    unsigned status = res->get().result_int();
    if (status < 100 || status > 599) return false;
    if (status / 100 != 1) break;
    if (status == 101) return false;
  }
  return mlsidecar::framing_problem(res->get()).empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool head_request = data[0] & 1;
  const unsigned client_version = (data[0] & 2) ? 10 : 11;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  InputStream model(bytes, read_size_for(bytes));
  beast::flat_buffer up_buf;
  std::optional<ResponseParser> res_parser;
  StringSink client;

  if (!read_response_head(model, up_buf, res_parser, head_request)) {
    FUZZ_CHECK(client.out.empty());
    return 0;
  }

  // The head edits of ProxySession::serve_one.
  auto& res = res_parser->get();
  Relayed r;
  r.status = res.result_int();
  r.bodyless = head_request || r.status == 204 || r.status == 304 || r.status / 100 == 1;
  bool keep_alive = true;  // the client asked for keep-alive
  mlsidecar::strip_hop_by_hop(res);
  res.version(client_version);
  if (!r.bodyless && res.find(http::field::content_length) == res.end()) {
    if (client_version == 11) {
      res.chunked(true);
    } else {
      res.chunked(false);
      keep_alive = false;
    }
  }
  res.keep_alive(keep_alive);
  if (res.find("x-request-id") == res.end()) res.set("x-request-id", "fuzz");

  // ProxySession::relay_response: the head serialized before any of the body is read (so that
  // trailer fields Beast's parser merges into the head never reach the client as head fields),
  // sent alone at once for a stream of which nothing is buffered, else with the first piece.
  std::string head_out;
  mlsidecar::wire::append_response_head(head_out, res);
  std::string_view head = head_out;
  const bool chunked = res.chunked();
  const bool streamed = res_parser->chunked() || !res_parser->content_length();
  auto send = [&](const mlsidecar::wire::Frame& frame) {
    for (const auto& b : frame.buffers())
      client.out.append(static_cast<const char*>(b.data()), b.size());
  };
  r.complete = true;
  if (r.bodyless || (streamed && up_buf.size() == 0 && !res_parser->is_done())) {
    client.out.append(head);
    head = {};
  }
  if (!r.bodyless) {
    char buf[kRelaySize];
    for (;;) {
      std::size_t got = 0;
      if (!res_parser->is_done()) {
        res.body().data = buf;
        res.body().size = sizeof buf;
        error_code ec;
        http::read_some(model, up_buf, *res_parser, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          r.complete = false;  // 502 if nothing was sent yet, else the client connection is cut
          break;
        }
        got = sizeof buf - res.body().size;
        if (!res_parser->is_done() &&
            !mlsidecar::parse_buffered_body(*res_parser, up_buf, buf, sizeof buf, got)) {
          r.complete = false;
          break;
        }
        if (got == 0 && !res_parser->is_done()) continue;
        r.body.append(buf, got);
      }
      const bool last = res_parser->is_done();
      mlsidecar::wire::absorb_small_body(head_out, head, buf, got, chunked, last);
      send(mlsidecar::wire::Frame(head, buf, got, chunked, last));
      head = {};
      if (last) break;
    }
  }

  // What the client reads.
  failure_context() = client.out;
  InputStream at_client(client.out, 4096);
  beast::flat_buffer buf;
  // A dynamic_body, not a string_body: Boost 1.74's response parser reaches the body's init
  // (where string_body reserves the whole Content-Length) even after it reported body_limit.
  http::response_parser<http::basic_dynamic_body<beast::flat_buffer>> parser;
  parser.header_limit(std::numeric_limits<std::uint32_t>::max());
  parser.body_limit(kNoBodyLimit);
  if (head_request) parser.skip(true);
  error_code ec;
  http::read(at_client, buf, parser, ec);
  if (!r.complete) {
    // The relay broke off: the client must not see a complete message unless it is read to the
    // close (an HTTP/1.0 body of unknown length, which the cut connection ends).
    FUZZ_CHECK(ec || parser.need_eof());
    return 0;
  }
  FUZZ_CHECK(!ec);
  const auto& got = parser.get();
  FUZZ_CHECK(got.result_int() == r.status);
  FUZZ_CHECK(got.version() == client_version);
  FUZZ_CHECK(beast::buffers_to_string(got.body().data()) == r.body);
  if (r.bodyless) FUZZ_CHECK(got.body().size() == 0);
  if (got.keep_alive()) FUZZ_CHECK(!parser.need_eof());
  for (http::field hop :
       {http::field::connection, http::field::keep_alive, http::field::te, http::field::trailer,
        http::field::upgrade, http::field::proxy_connection}) {
    // Connection: the keep-alive/close marker the proxy sets is the only one allowed.
    if (hop == http::field::connection) {
      for (auto it = got.find(hop); it != got.end() && it->name() == hop; ++it) {
        FUZZ_CHECK(beast::iequals(it->value(), "close") ||
                   beast::iequals(it->value(), "keep-alive"));
      }
      continue;
    }
    FUZZ_CHECK(got.find(hop) == got.end());
  }
  FUZZ_CHECK(buf.size() == 0 && at_client.exhausted());
  return 0;
}
