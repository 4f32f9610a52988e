#include "sidecar/metrics_url.h"

#include <arpa/inet.h>

#include <charconv>
#include <string_view>

namespace mlsidecar {

std::optional<MetricsUrl> parse_metrics_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) return std::nullopt;
  const std::string_view rest = std::string_view(url).substr(kScheme.size());
  MetricsUrl out;
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8000
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    const bool has_port = close + 1 < authority.size();
    if (has_port && authority[close + 1] != ':') return std::nullopt;
    colon = has_port ? close + 1 : std::string_view::npos;
  } else {
    out.host = std::string(authority.substr(0, colon));
  }
  if (colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  if (out.host == "localhost") out.host = "127.0.0.1";
  unsigned char address[16];
  if (inet_pton(AF_INET, out.host.c_str(), address) != 1 &&
      inet_pton(AF_INET6, out.host.c_str(), address) != 1) {
    return std::nullopt;
  }
  return out;
}

}  // namespace mlsidecar
