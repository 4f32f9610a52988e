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
#include <nlohmann/json.hpp>
#include <sstream>

#include "sidecar/log.h"
#include "sidecar/status/report_page.h"
#include "sidecar/status/status_assets.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAdminTimeout = std::chrono::seconds(30);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

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
      config_json_(config_to_json(state.config)),
      started_(std::chrono::steady_clock::now()),
      status_page_(io, [this] { return collect(); }) {
  collectables_.insert(collectables_.end(), more.begin(), more.end());
}

tcp::endpoint AdminServer::start(const tcp::endpoint& at) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  accept_next();
  status_page_.start();
  return acceptor_.local_endpoint();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_backoff_.cancel();
  status_page_.stop();
}

bool AdminServer::ready() const { return state_.model_ready.load() && !state_.draining.load(); }

std::vector<prometheus::MetricFamily> AdminServer::collect() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : collectables_) {
    auto part = c->Collect();
    std::move(part.begin(), part.end(), std::back_inserter(families));
  }
  return families;
}

std::string AdminServer::render_metrics() const {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, collect());
  return out.str();
}

std::string AdminServer::render_status() const {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_);
  nlohmann::json identity = {{"model", state_.config.model},
                             {"version", state_.config.model_version},
                             {"upstream", state_.config.upstream.to_string()},
                             {"ready", ready()},
                             {"draining", state_.draining.load()},
                             {"uptime_seconds", up.count()},
                             {"sidecar_version", MLSIDECAR_VERSION}};
  return status_page_.status_json(std::move(identity), chain_.drift_json(), chain_.shadow_json());
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
    // A JSON document of a part that may be off: 404 with `off` (an error body) when it is.
    const auto document = [&reply](std::optional<std::string> doc, std::string_view off) {
      if (doc) {
        reply.body = std::move(*doc);
      } else {
        reply.status = http::status::not_found;
        reply.body = off;
      }
    };
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
      document(server.chain().drift_json(),
               R"J({"error":"drift monitoring is off (no --drift-profile)","code":"drift_off"})J");
    } else if (path == "/shadow") {
      document(server.chain().shadow_json(),
               R"J({"error":"shadow traffic is off (no --shadow-upstream)","code":"shadow_off"})J");
    } else if (path == "/") {
      // Static: the page holds no data, status.js draws /status.json with textContent only.
      reply.content_type = "text/html; charset=utf-8";
      reply.body = status::asset_index_html();
    } else if (path == "/status.js") {
      reply.content_type = "text/javascript; charset=utf-8";
      reply.body = status::asset_status_js();
    } else if (path == "/status.css") {
      reply.content_type = "text/css; charset=utf-8";
      reply.body = status::asset_status_css();
    } else if (path == "/favicon.ico") {
      reply.status = http::status::no_content;  // browsers ask; an error would be logged
      reply.content_type = "image/x-icon";
    } else if (path == "/status.json") {
      reply.body = server.render_status();
    } else {
      reply.status = http::status::not_found;
      reply.body = R"({"error":"no such admin endpoint","code":"not_found"})";
    }
    http::response<http::string_body> res{reply.status, req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("Content-Security-Policy", status::kStatusPagePolicy);
    res.set("X-Content-Type-Options", "nosniff");
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
