// The admission webhook's HTTPS server: Boost.Beast over Asio SSL, one session object per
// connection (kept alive by shared_from_this), a timeout before every handshake, read and write,
// and a body limit. Routes: POST /mutate (review_admission), GET /healthz. Every error is JSON.
// A timer re-checks the certificate files and new connections pick up a rotated certificate.
//
// Thread-safety: runs on the one io_context given to it; start() and stop() must be called from
// that context's thread or before it runs.
#pragma once

#include "sidecar/inject/settings.h"
#include "sidecar/inject/tls_credentials.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace mlsidecar::inject {

struct WebhookOptions {
  boost::asio::ip::tcp::endpoint listen;
  std::chrono::milliseconds cert_check_interval{std::chrono::seconds(10)};
  std::chrono::seconds io_timeout{std::chrono::seconds(10)};
  std::size_t body_limit = 4 * 1024 * 1024;  // the API server sends at most ~3 MiB objects
  InjectionSettings settings;
};

class WebhookServer {
 public:
  // Binds the listening socket; throws boost::system::system_error if it cannot.
  WebhookServer(boost::asio::io_context& ioc, WebhookOptions options, TlsCredentials& credentials);

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();
  void stop();

 private:
  void do_accept();
  void schedule_cert_check();

  boost::asio::io_context& ioc_;
  std::shared_ptr<const WebhookOptions> options_;
  TlsCredentials& credentials_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer cert_timer_;
};

}  // namespace mlsidecar::inject
