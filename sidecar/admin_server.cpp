#include "sidecar/admin_server.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

#include "sidecar/log.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAdminTimeout = std::chrono::seconds(30);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

const char* kStatusPage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>mlsidecar</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}code{background:#eee;padding:0 .2em}</style>
</head><body><h1>mlsidecar</h1>
<p>Model <code>%MODEL%</code>, version <code>%VERSION%</code>, upstream <code>%UPSTREAM%</code>.</p>
<p>Ready: <b>%READY%</b>. Requests in flight: <b>%INFLIGHT%</b>.</p>
<ul><li><a href="/metrics">/metrics</a> Prometheus metrics</li>
<li><a href="/readyz">/readyz</a> readiness</li><li><a href="/healthz">/healthz</a> liveness</li>
<li><a href="/config">/config</a> effective configuration</li><li><a href="/drift">/drift</a> drift statistics</li></ul>
</body></html>
)";

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string html_escape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, SidecarState& state, const RequestChain& chain,
                         std::vector<std::shared_ptr<prometheus::Collectable>> more,
                         std::shared_ptr<ModelMetrics> model_metrics)
    : io_(io),
      state_(state),
      chain_(chain),
      collectables_(chain.collectables()),
      model_metrics_(std::move(model_metrics)),
      acceptor_(io),
      accept_backoff_(io),
      config_json_(config_to_json(state.config)) {
  collectables_.insert(collectables_.end(), more.begin(), more.end());
}

tcp::endpoint AdminServer::start(const tcp::endpoint& at) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  accept_next();
  return acceptor_.local_endpoint();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_backoff_.cancel();
}

bool AdminServer::ready() const { return state_.model_ready.load() && !state_.draining.load(); }

std::string AdminServer::render_metrics() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : collectables_) {
    auto part = c->Collect();
    std::move(part.begin(), part.end(), std::back_inserter(families));
  }
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

namespace {

struct Reply {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
};

asio::awaitable<void> serve_admin(AdminServer& server, SidecarState& state,
                                  const std::string& config_json, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    stream.expires_after(kAdminTimeout);
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    auto& req = parser.get();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    Reply reply;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      reply.status = http::status::method_not_allowed;
      reply.body = R"({"error":"only GET and HEAD","code":"method_not_allowed"})";
    } else if (path == "/metrics") {
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = server.render_metrics();
      if (ModelMetrics* model = server.model_metrics()) co_await model->append_to(reply.body);
    } else if (path == "/healthz") {
      reply.body = R"({"status":"ok"})";
    } else if (path == "/readyz") {
      if (server.ready()) {
        reply.body = R"({"status":"ready"})";
      } else {
        reply.status = http::status::service_unavailable;
        reply.body = state.draining.load()
                         ? R"({"status":"draining","code":"draining"})"
                         : R"({"status":"model not ready","code":"model_not_ready"})";
      }
    } else if (path == "/config") {
      reply.body = config_json;
    } else if (path == "/drift") {
      if (auto drift = server.chain().drift_json()) {
        reply.body = std::move(*drift);
      } else {
        reply.status = http::status::not_found;
        reply.body =
            R"J({"error":"drift monitoring is off (no --drift-profile)","code":"drift_off"})J";
      }
    } else if (path == "/") {
      reply.content_type = "text/html; charset=utf-8";
      reply.body = kStatusPage;
      replace_all(reply.body, "%MODEL%", html_escape(state.config.model));
      replace_all(reply.body, "%VERSION%", html_escape(state.config.model_version));
      replace_all(reply.body, "%UPSTREAM%", html_escape(state.config.upstream.to_string()));
      replace_all(reply.body, "%READY%", server.ready() ? "yes" : "no");
      replace_all(reply.body, "%INFLIGHT%", std::to_string(server.chain().metrics().in_flight()));
    } else {
      reply.status = http::status::not_found;
      reply.body = R"({"error":"no such admin endpoint","code":"not_found"})";
    }
    http::response<http::string_body> res{reply.status, req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(reply.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace

void AdminServer::accept_next() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) and the like: the connection stays in the backlog,
      // so accepting again at once would fail again at once. Look again shortly.
      log_event(LogLevel::warn, "admin_accept_failed", {{"error", ec.message()}});
      accept_backoff_.expires_after(kAcceptBackoff);
      accept_backoff_.async_wait([this](boost::system::error_code e) {
        if (!e) accept_next();
      });
      return;
    }
    asio::co_spawn(io_, serve_admin(*this, state_, config_json_, std::move(socket)),
                   asio::detached);
    accept_next();
  });
}

}  // namespace mlsidecar
