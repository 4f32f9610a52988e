// The heads and body framing the proxy writes, checked against what Beast's own serializer writes
// for the same messages (the reference the proxy used before wire.h).
#include "sidecar/wire.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace http = boost::beast::http;
using mlsidecar::wire::Frame;

namespace {

// Everything `sr` has to write now: the head alone when `head_only`, else until it is done or
// waits for more body.
template <class Serializer>
std::string drain(Serializer& sr, bool head_only) {
  std::string out;
  boost::system::error_code ec;
  while (head_only ? !sr.is_header_done() : !sr.is_done()) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      out += boost::beast::buffers_to_string(buffers);
      sr.consume(boost::asio::buffer_size(buffers));
    });
    if (ec == http::error::need_buffer) break;
    REQUIRE(!ec);
  }
  return out;
}

template <bool isRequest>
std::string beast_head(const http::message<isRequest, http::string_body>& m) {
  http::serializer<isRequest, http::string_body> sr{m};
  sr.split(true);
  return drain(sr, true);
}

std::string joined(const Frame& f) {
  std::string out;
  for (const auto& b : f.buffers()) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

// What Beast writes for a chunked buffer_body message whose body arrives in `pieces`.
std::string beast_chunked_body(std::vector<std::string> pieces) {
  http::response<http::buffer_body> res{http::status::ok, 11};
  res.chunked(true);
  res.body().data = nullptr;
  res.body().more = true;
  http::response_serializer<http::buffer_body> sr{res};
  sr.split(true);
  drain(sr, true);  // the head is tested on its own
  std::string out;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    res.body().data = pieces[i].empty() ? nullptr : pieces[i].data();
    res.body().size = pieces[i].size();
    res.body().more = i + 1 < pieces.size();
    out += drain(sr, false);
  }
  return out;
}

}  // namespace

TEST_CASE("a request head is written as Beast writes it") {
  http::request<http::string_body> req{http::verb::post, "/v2/models/m/infer?x=1", 11};
  req.set(http::field::host, "model:8080");
  req.set(http::field::content_type, "application/json");
  req.set("X-Custom-Thing", "a, b;  c");
  req.set(http::field::content_length, "17");
  req.insert("x-request-id", "abc");
  std::string out;
  mlsidecar::wire::append_request_head(out, req);
  CHECK(out == beast_head(req));
  CHECK(out.starts_with("POST /v2/models/m/infer?x=1 HTTP/1.1\r\n"));
  CHECK(out.ends_with("x-request-id: abc\r\n\r\n"));

  http::request<http::string_body> odd{http::verb::unknown, "*", 10};
  odd.method_string("PURGE");
  out.clear();
  mlsidecar::wire::append_request_head(out, odd);
  CHECK(out == beast_head(odd));
  CHECK(out == "PURGE * HTTP/1.0\r\n\r\n");
}

TEST_CASE("a response head keeps the model's reason, or gets the standard one") {
  http::response<http::string_body> res{http::status::not_found, 11};
  res.reason("Nope");
  res.set(http::field::server, "model");
  res.set(http::field::transfer_encoding, "chunked");
  std::string out;
  mlsidecar::wire::append_response_head(out, res);
  CHECK(out == beast_head(res));
  CHECK(out == "HTTP/1.1 404 Nope\r\nServer: model\r\nTransfer-Encoding: chunked\r\n\r\n");

  for (unsigned code : {200u, 204u, 304u, 503u, 599u, 100u, 20u}) {
    http::response<http::string_body> r;
    r.result(code);
    r.version(10);
    out.clear();
    mlsidecar::wire::append_response_head(out, r);
    CHECK(out == beast_head(r));
    CHECK(out.starts_with("HTTP/1.0 " + std::string(code < 100 ? "0" : "") + std::to_string(code) +
                          " "));
  }
}

TEST_CASE("chunk framing matches Beast's for every split of a body") {
  const std::vector<std::vector<std::string>> bodies = {
      {"data: {\"x\":1}\n\n"},
      {"a", "bc", std::string(4096, 'z'), "end"},
      {std::string(16 * 1024, 'q'), ""},  // the last read brought no bytes: no empty chunk
      {""},
  };
  for (const auto& pieces : bodies) {
    std::string ours;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      ours += joined(Frame({}, pieces[i].data(), pieces[i].size(), true, i + 1 == pieces.size()));
    }
    CHECK(ours == beast_chunked_body(pieces));
  }
}

TEST_CASE("a frame carries the head first, and nothing when there is nothing to send") {
  const std::string body = "{\"predictions\":[1]}";
  CHECK(joined(Frame("HEAD\r\n\r\n", body.data(), body.size(), false, true)) ==
        "HEAD\r\n\r\n" + body);
  CHECK(joined(Frame("H\r\n\r\n", body.data(), body.size(), true, true)) ==
        "H\r\n\r\n13\r\n" + body + "\r\n0\r\n\r\n");
  CHECK(joined(Frame("H\r\n\r\n", nullptr, 0, true, false)) == "H\r\n\r\n");
  CHECK(Frame({}, nullptr, 0, false, true).empty());
  CHECK(Frame({}, nullptr, 0, true, false).empty());
  CHECK(joined(Frame({}, nullptr, 0, true, true)) == "0\r\n\r\n");
}

TEST_CASE("a small last piece of a message that is not chunked travels inside its head") {
  std::string storage = "H\r\n\r\n";
  std::string_view head = storage;
  const std::string body = "{\"predictions\":[1]}";
  std::size_t size = body.size();
  mlsidecar::wire::absorb_small_body(storage, head, body.data(), size, false, true);
  CHECK(size == 0);
  CHECK(head == "H\r\n\r\n" + body);
  CHECK(joined(Frame(head, body.data(), size, false, true)) == "H\r\n\r\n" + body);
  CHECK(Frame(head, body.data(), size, false, true).buffers().size() == 1);

  // Left alone: chunked, not the last piece, nothing left of the head, or too large.
  const std::string big(mlsidecar::wire::kAbsorbBytes + 1, 'b');
  struct Case {
    const std::string* data;
    bool chunked, last, head_sent;
  };
  for (const Case& c : {Case{&body, true, true, false}, Case{&body, false, false, false},
                        Case{&body, false, true, true}, Case{&big, false, true, false}}) {
    std::string s = "H\r\n\r\n";
    std::string_view h = c.head_sent ? std::string_view{} : std::string_view{s};
    std::size_t n = c.data->size();
    mlsidecar::wire::absorb_small_body(s, h, c.data->data(), n, c.chunked, c.last);
    CHECK(n == c.data->size());
    CHECK(s == "H\r\n\r\n");
  }
}
