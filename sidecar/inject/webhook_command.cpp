// `mlsidecar webhook`: flags in, HTTPS admission webhook until SIGTERM. See commands.h.
#include "sidecar/inject/commands.h"
#include "sidecar/inject/settings.h"
#include "sidecar/inject/webhook_server.h"

#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace mlsidecar::inject {
namespace {

void print_usage() {
  std::fputs(
      "usage: mlsidecar webhook --tls-cert FILE --tls-key FILE [--listen ADDR:PORT] [flags]\n"
      "  --listen ADDR:PORT          HTTPS address (default 0.0.0.0:8443; port 0 picks one)\n"
      "  --tls-cert FILE             PEM certificate chain, reloaded when it changes\n"
      "  --tls-key FILE              PEM private key, reloaded when it changes\n"
      "  --cert-check-interval SECS  how often the files are checked (default 10)\n"
      "Injection settings (also as environment variables):\n",
      stderr);
  std::fputs(settings_help().c_str(), stderr);
}

boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen: expected ADDR:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const std::string p = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port > 65535) {
    throw std::invalid_argument("--listen: bad port \"" + p + "\"");
  }
  boost::system::error_code bad;
  const auto address = boost::asio::ip::make_address(host.empty() ? "0.0.0.0" : host, bad);
  if (bad) throw std::invalid_argument("--listen: bad address \"" + host + "\"");
  return {address, static_cast<unsigned short>(port)};
}

}  // namespace

int run_webhook_command(int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const auto env = process_environment();
  WebhookOptions options;
  std::string listen = "0.0.0.0:8443", cert, key;
  int check_seconds = 10;
  try {
    ParsedSettings parsed = parse_settings(args, env);
    options.settings = parsed.settings;
    if (auto e = env.find("MLSIDECAR_WEBHOOK_LISTEN"); e != env.end()) listen = e->second;
    if (auto e = env.find("MLSIDECAR_TLS_CERT"); e != env.end()) cert = e->second;
    if (auto e = env.find("MLSIDECAR_TLS_KEY"); e != env.end()) key = e->second;
    for (std::size_t i = 0; i < parsed.rest.size(); ++i) {
      const std::string& a = parsed.rest[i];
      if (a == "-h" || a == "--help") {
        print_usage();
        return 0;
      }
      std::string name = a, value;
      if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
      } else if (i + 1 < parsed.rest.size()) {
        value = parsed.rest[++i];
      } else {
        throw std::invalid_argument(a + ": missing value or unknown flag");
      }
      if (name == "--listen") {
        listen = value;
      } else if (name == "--tls-cert") {
        cert = value;
      } else if (name == "--tls-key") {
        key = value;
      } else if (name == "--cert-check-interval") {
        const auto [end, ec] =
            std::from_chars(value.data(), value.data() + value.size(), check_seconds);
        if (ec != std::errc() || end != value.data() + value.size() || check_seconds < 1) {
          throw std::invalid_argument("--cert-check-interval: expected seconds >= 1");
        }
      } else {
        throw std::invalid_argument("unknown flag \"" + name + "\"");
      }
    }
    if (cert.empty() || key.empty())
      throw std::invalid_argument("--tls-cert and --tls-key are required");
    options.listen = parse_endpoint(listen);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "mlsidecar webhook: %s\n", e.what());
    print_usage();
    return 2;
  }
  options.cert_check_interval = std::chrono::seconds(check_seconds);

  try {
    TlsCredentials credentials(cert, key);
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

}  // namespace mlsidecar::inject
