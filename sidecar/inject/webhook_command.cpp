// `mlsidecar webhook`: flags in, HTTPS admission webhook until SIGTERM. See commands.h.
#include "sidecar/inject/commands.h"
#include "sidecar/inject/settings.h"
#include "sidecar/inject/webhook_server.h"

#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdio>

namespace mlsidecar::inject {
namespace {

struct WebhookFlags {
  Endpoint listen{"0.0.0.0", 8443};
  std::string tls_cert, tls_key;
  std::chrono::milliseconds cert_check_interval{10000};
  InjectionSettings settings;
};

const cli::FlagSet<WebhookFlags>& webhook_flags() {
  using W = WebhookFlags;
  static const cli::FlagSet<WebhookFlags> flags(
      cli::CommandInfo{
          .name = "webhook",
          .usage = "usage: mlsidecar webhook --tls-cert FILE --tls-key FILE [--listen HOST:PORT] "
                   "[flags]",
          .description = "Serves POST /mutate (a mutating admission webhook that injects the "
                         "sidecar) and GET /healthz\nover HTTPS until SIGTERM."},
      cli::join(
          {
              cli::endpoint_flag("listen", &W::listen, "HTTPS address (port 0 picks one)")
                  .env_var("MLSIDECAR_WEBHOOK_LISTEN"),
              cli::string_flag("tls-cert", &W::tls_cert,
                               "PEM certificate chain, reloaded when it changes")
                  .value_name("FILE")
                  .required(),
              cli::string_flag("tls-key", &W::tls_key, "PEM private key, reloaded when it changes")
                  .value_name("FILE")
                  .required(),
              cli::duration_flag("cert-check-interval", &W::cert_check_interval,
                                 "how often the files are checked"),
          },
          cli::nested(&W::settings, settings_flags())));
  return flags;
}

boost::asio::ip::tcp::endpoint to_asio(const Endpoint& listen) {
  boost::system::error_code bad;
  const auto address = boost::asio::ip::make_address(listen.host, bad);
  if (bad) throw cli::UsageError("--listen '" + listen.to_string() + "': not an IP address");
  return {address, listen.port};
}

int run(const WebhookFlags& flags) {
  if (flags.cert_check_interval < std::chrono::seconds(1)) {
    throw cli::UsageError("--cert-check-interval: must be at least 1s");
  }
  WebhookOptions options;
  options.settings = flags.settings;
  options.listen = to_asio(flags.listen);
  options.cert_check_interval = flags.cert_check_interval;
  try {
    TlsCredentials credentials(flags.tls_cert, flags.tls_key);
    boost::asio::io_context ioc(1);
    WebhookServer server(ioc, options, credentials);
    boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code&, int) {
      server.stop();
      ioc.stop();
    });
    server.start();
    const auto bound = server.local_endpoint();
    std::fprintf(stderr, "mlsidecar webhook: listening on https://%s:%u\n",
                 bound.address().to_string().c_str(), bound.port());
    std::fflush(stderr);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlsidecar webhook: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace

int run_webhook_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(webhook_flags(), args, env,
                          [](const WebhookFlags& flags) { return run(flags); });
}

}  // namespace mlsidecar::inject
