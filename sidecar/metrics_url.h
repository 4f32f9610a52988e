// Where the model server publishes its own metrics (--merge-metrics): http://HOST:PORT/PATH with
// HOST an IPv4 or IPv6 address or localhost (the model runs in the same pod, so no name needs
// resolving on the admin thread), PORT 80 and PATH /metrics when left out.
//
// Thread safety: plain values and a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mlsidecar {

struct MetricsUrl {
  std::string host;  // an address literal; localhost becomes 127.0.0.1
  std::uint16_t port = 80;
  std::string path = "/metrics";
};

// nullopt when `url` is not of that form.
std::optional<MetricsUrl> parse_metrics_url(const std::string& url);

}  // namespace mlsidecar
