#include "sidecar/readiness_probe.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <utility>

#include "sidecar/grpc_probe.h"
#include "sidecar/log.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

asio::awaitable<bool> probe_once(SidecarState& state, const asio::ip::tcp::endpoint& upstream) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  boost::system::error_code ec;
  auto timeout = std::max(state.config.ready_interval, std::chrono::milliseconds(1000));
  stream.expires_after(timeout);
  co_await stream.async_connect(upstream, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  if (state.config.ready_path.empty()) co_return true;
  http::request<http::empty_body> req{http::verb::get, state.config.ready_path, 11};
  req.set(http::field::host, state.config.upstream.to_string());
  req.set(http::field::user_agent, "mlsidecar-readiness");
  req.keep_alive(false);
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  co_return parser.get().result_int() / 100 == 2;
}

}  // namespace

asio::awaitable<void> probe_readiness(SidecarState& state, asio::ip::tcp::endpoint upstream,
                                      std::optional<asio::ip::tcp::endpoint> grpc_upstream) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const std::string& grpc = state.config.ready_grpc;
  for (;;) {
    const auto timeout = std::max(state.config.ready_interval, std::chrono::milliseconds(1000));
    bool ready = grpc != "off" && grpc_upstream
                     ? co_await probe_grpc_once(
                           *grpc_upstream, grpc == "v2" ? GrpcReadiness::v2 : GrpcReadiness::health,
                           state.config.ready_grpc_service, timeout)
                     : co_await probe_once(state, upstream);
    if (ready != state.model_ready.exchange(ready)) {
      log_event(
          LogLevel::info, ready ? "model_ready" : "model_not_ready",
          {{"upstream",
            grpc != "off" ? state.config.grpc_upstream : state.config.upstream.to_string()},
           {"path", grpc != "off" ? std::string(grpc_readiness_path(
                                        grpc == "v2" ? GrpcReadiness::v2 : GrpcReadiness::health))
                                  : state.config.ready_path}});
    }
    timer.expires_after(state.config.ready_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

}  // namespace mlsidecar
