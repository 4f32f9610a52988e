// gRPC readiness questions. See grpc_probe.h.
#include "sidecar/grpc_probe.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "sidecar/h2/client_connection.h"

namespace mlsidecar {

namespace asio = boost::asio;

namespace {

// What the one stream of the question brought back.
struct Answer final : h2::ClientEvents {
  std::string grpc_status;
  std::string body;
  bool closed = false;

  void on_response_head(h2::StreamId, const h2::ResponseHead& head) override {
    if (!head.grpc_status.empty()) grpc_status = head.grpc_status;
  }
  void on_response_data(h2::StreamId, std::string_view data) override {
    if (body.size() < 4096) body.append(data);
  }
  void on_response_trailers(h2::StreamId, std::span<const h2::HeaderField> trailers) override {
    for (const auto& f : trailers) {
      if (f.name == "grpc-status") grpc_status = f.value;
    }
  }
  void on_stream_close(h2::StreamId, std::uint32_t, bool) override { closed = true; }
};

}  // namespace

std::string grpc_readiness_request(GrpcReadiness kind, std::string_view service) {
  std::string message;
  if (kind == GrpcReadiness::health && !service.empty()) {
    // HealthCheckRequest { string service = 1; }: tag 0x0a, a varint length, the bytes.
    message.push_back('\x0a');
    for (std::size_t n = service.size();; n >>= 7) {
      const auto low = static_cast<unsigned char>(n & 0x7f);
      if (n < 0x80) {
        message.push_back(static_cast<char>(low));
        break;
      }
      message.push_back(static_cast<char>(low | 0x80));
    }
    message.append(service);
  }
  std::string framed(5, '\0');
  const auto size = static_cast<std::uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) framed[1 + i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
  return framed + message;
}

std::string_view grpc_readiness_path(GrpcReadiness kind) {
  return kind == GrpcReadiness::health ? "/grpc.health.v1.Health/Check"
                                       : "/inference.GRPCInferenceService/ServerReady";
}

bool grpc_readiness_answer(std::string_view grpc_status, std::string_view body) {
  // HealthCheckResponse { ServingStatus status = 1; } with SERVING = 1, and
  // ServerReadyResponse { bool ready = 1; } with true: both the two bytes 08 01.
  static constexpr std::string_view kReady("\0\0\0\0\x02\x08\x01", 7);
  return grpc_status == "0" && body == kReady;
}

asio::awaitable<bool> probe_grpc_once(asio::ip::tcp::endpoint endpoint, GrpcReadiness kind,
                                      std::string service, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  boost::beast::tcp_stream stream(ex);
  boost::system::error_code ec;
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  Answer answer;
  h2::ClientConnection conn(answer);
  const h2::HeaderField headers[] = {{"content-type", "application/grpc"},
                                     {"te", "trailers"},
                                     {"user-agent", "mlsidecar-readiness"}};
  const h2::StreamId id =
      conn.submit_request({.authority = "localhost", .path = grpc_readiness_path(kind)}, headers);
  if (id < 0) co_return false;
  conn.send_data(id, grpc_readiness_request(kind, service));
  conn.end_request(id);
  char buf[4096];
  while (!answer.closed) {
    for (std::string_view out = conn.pending_output(); !out.empty(); out = conn.pending_output()) {
      const std::size_t n = co_await asio::async_write(
          stream, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
      conn.output_written(n);
    }
    const std::size_t n = co_await stream.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    if (conn.feed(std::string_view(buf, n), std::chrono::steady_clock::now()).verdict ==
        h2::Verdict::close) {
      break;
    }
  }
  co_return grpc_readiness_answer(answer.grpc_status, answer.body);
}

}  // namespace mlsidecar
