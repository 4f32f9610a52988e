// The webhook's HTTPS server. See webhook_server.h.
#include "sidecar/inject/webhook_server.h"

#include <algorithm>

#include "sidecar/inject/admission.h"

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdio>
#include <optional>

namespace mlsidecar::inject {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

std::string json_error(std::string_view message, std::string_view code) {
  std::string out = R"({"error":")";
  out += message;
  out += R"(","code":")";
  out += code;
  out += R"("})";
  return out;
}

// One TLS connection: handshake, then request/response pairs until the client closes.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ssl::context> ctx,
          std::shared_ptr<const WebhookOptions> options)
      : ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_), options_(std::move(options)) {}

  void run() {
    beast::get_lowest_layer(stream_).expires_after(options_->io_timeout);
    stream_.async_handshake(
        ssl::stream_base::server,
        [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) return;  // scanners, clients that distrust us: nothing to answer over TLS
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(options_->body_limit);
    beast::get_lowest_layer(stream_).expires_after(options_->io_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::ssl::error::stream_truncated) {
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return respond(http::status::payload_too_large,
                     json_error("request body too large", "body_too_large"), false);
    }
    if (ec) {
      if (ec == beast::error::timeout || ec == asio::error::operation_aborted) return;
      return respond(http::status::bad_request, json_error("malformed HTTP request", "bad_request"),
                     false);
    }
    const auto& req = parser_->get();
    const bool keep_alive = req.keep_alive();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      return respond(http::status::ok, R"({"status":"ok"})", keep_alive);
    }
    // /mutate/MODE: the webhook entry a namespace's label selects chooses the capture (the
    // AdmissionReview does not carry the namespace's labels); /mutate uses the flag's.
    constexpr std::string_view kMutate = "/mutate";
    if (path.substr(0, kMutate.size()) != kMutate ||
        (path.size() > kMutate.size() && path[kMutate.size()] != '/')) {
      return respond(http::status::not_found, json_error("no such path", "not_found"), keep_alive);
    }
    if (req.method() != http::verb::post) {
      return respond(http::status::method_not_allowed, json_error("use POST", "method_not_allowed"),
                     keep_alive);
    }
    InjectionSettings settings = options_->settings;
    if (path.size() > kMutate.size()) {
      settings.capture = std::string(path.substr(kMutate.size() + 1));
      if (std::find(capture_modes().begin(), capture_modes().end(), settings.capture) ==
          capture_modes().end()) {
        return respond(
            http::status::not_found,
            json_error("no such capture mode (redirect, port-name, service)", "not_found"),
            keep_alive);
      }
    }
    const AdmissionAnswer answer = review_admission(req.body(), settings);
    std::fprintf(stderr, "mlsidecar webhook: %s\n", answer.log.c_str());
    respond(static_cast<http::status>(answer.status), answer.body, keep_alive);
  }

  void respond(http::status status, std::string body, bool keep_alive) {
    response_.emplace(status, 11);
    response_->set(http::field::content_type, "application/json");
    response_->body() = std::move(body);
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options_->io_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (keep_alive) {
                          self->do_read();
                        } else {
                          self->do_close();
                        }
                      });
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(options_->io_timeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  std::shared_ptr<ssl::context> ctx_;  // the certificate this connection was accepted with
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::shared_ptr<const WebhookOptions> options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace

WebhookServer::WebhookServer(asio::io_context& ioc, WebhookOptions options,
                             TlsCredentials& credentials)
    : ioc_(ioc),
      options_(std::make_shared<const WebhookOptions>(std::move(options))),
      credentials_(credentials),
      acceptor_(ioc),
      cert_timer_(ioc) {
  acceptor_.open(options_->listen.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(options_->listen);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

tcp::endpoint WebhookServer::local_endpoint() const { return acceptor_.local_endpoint(); }

void WebhookServer::start() {
  do_accept();
  schedule_cert_check();
}

void WebhookServer::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
  cert_timer_.cancel();
}

void WebhookServer::do_accept() {
  acceptor_.async_accept(ioc_, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<Session>(std::move(socket), credentials_.current(), options_)->run();
    }
    do_accept();
  });
}

void WebhookServer::schedule_cert_check() {
  cert_timer_.expires_after(options_->cert_check_interval);
  cert_timer_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    std::string error;
    switch (credentials_.reload_if_changed(&error)) {
      case TlsCredentials::Reload::reloaded:
        std::fputs("mlsidecar webhook: TLS certificate reloaded\n", stderr);
        break;
      case TlsCredentials::Reload::failed:
        std::fprintf(stderr, "mlsidecar webhook: keeping the current certificate: %s\n",
                     error.c_str());
        break;
      case TlsCredentials::Reload::unchanged:
        break;
    }
    schedule_cert_check();
  });
}

}  // namespace mlsidecar::inject
