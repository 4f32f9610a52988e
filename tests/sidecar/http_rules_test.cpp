#include <catch2/catch.hpp>
#include <string>

#include "sidecar/http_rules.h"

using namespace mlsidecar;
namespace bhttp = boost::beast::http;

namespace {
bhttp::request_header<> request(std::initializer_list<std::pair<const char*, const char*>> fields) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/v2/models/m/infer");
  h.version(11);
  for (auto& [name, value] : fields) h.insert(name, value);
  return h;
}
}  // namespace

TEST_CASE("ambiguous request framing is refused") {
  CHECK(framing_problem(request({{"Host", "x"}, {"Content-Length", "4"}})).empty());
  CHECK(framing_problem(request({{"Host", "x"}, {"Transfer-Encoding", "chunked"}})).empty());
  CHECK_FALSE(
      framing_problem(
          request({{"Host", "x"}, {"Content-Length", "4"}, {"Transfer-Encoding", "chunked"}}))
          .empty());
  CHECK_FALSE(
      framing_problem(request({{"Host", "x"}, {"Content-Length", "4"}, {"Content-Length", "5"}}))
          .empty());
  CHECK_FALSE(
      framing_problem(request({{"Host", "x"}, {"Transfer-Encoding", "gzip, chunked"}})).empty());
  CHECK_FALSE(framing_problem(request({{"Host", "x"}, {"Transfer-Encoding", "identity"}})).empty());
  CHECK_FALSE(framing_problem(request({})).empty());  // HTTP/1.1 without Host
  CHECK_FALSE(framing_problem(request({{"Host", "x"}, {"Host", "y"}})).empty());
}

TEST_CASE("hop-by-hop fields are removed, end-to-end fields kept") {
  auto h = request({{"Host", "x"},
                    {"Connection", "keep-alive, X-Secret-Hop"},
                    {"X-Secret-Hop", "1"},
                    {"Keep-Alive", "timeout=5"},
                    {"Proxy-Connection", "keep-alive"},
                    {"TE", "trailers"},
                    {"Upgrade", "websocket"},
                    {"Content-Type", "application/json"},
                    {"Authorization", "Bearer t"}});
  strip_hop_by_hop(h);
  for (const char* gone :
       {"Connection", "X-Secret-Hop", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade"}) {
    CHECK(h.find(gone) == h.end());
  }
  CHECK(h["Content-Type"] == "application/json");
  CHECK(h["Authorization"] == "Bearer t");
  CHECK(h["Host"] == "x");
}

TEST_CASE("a Connection header cannot strip the framing fields") {
  auto h = request({{"Host", "x"}, {"Connection", "Content-Length"}, {"Content-Length", "3"}});
  strip_hop_by_hop(h);
  CHECK(h["Content-Length"] == "3");
}

TEST_CASE("x-request-id is kept when given, generated when not") {
  auto given = request({{"Host", "x"}, {"X-Request-Id", "abc-123"}});
  CHECK(ensure_request_id(given) == "abc-123");
  auto none = request({{"Host", "x"}});
  std::string id(ensure_request_id(none));
  CHECK(id.size() == 32);
  CHECK(none["x-request-id"] == id);
  auto other = request({{"Host", "x"}});
  CHECK(std::string(ensure_request_id(other)) != id);
}

TEST_CASE("only idempotent methods may be replayed") {
  CHECK(is_idempotent(bhttp::verb::get));
  CHECK(is_idempotent(bhttp::verb::head));
  CHECK_FALSE(is_idempotent(bhttp::verb::post));
  CHECK_FALSE(is_idempotent(bhttp::verb::patch));
}

TEST_CASE("error responses are complete HTTP with a JSON body") {
  std::string r =
      json_error_response(503, "queue_full", "busy \"now\"", false, "id1", "Retry-After: 1\r\n");
  CHECK(r.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(r.find("Connection: close\r\n") != std::string::npos);
  CHECK(r.find("x-request-id: id1\r\n") != std::string::npos);
  CHECK(r.find("Retry-After: 1\r\n") != std::string::npos);
  auto body_at = r.find("\r\n\r\n") + 4;
  std::string body = r.substr(body_at);
  CHECK(body == "{\"code\":\"queue_full\",\"error\":\"busy \\\"now\\\"\"}\n");
  CHECK(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}
