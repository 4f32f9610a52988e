// The process's lifecycle, shared by every I/O thread, the admin thread and the shutdown sequence:
// the configuration and a few flags. The request chain (request_chain.h) holds what watches
// requests; this holds only what says where the process is in its life.
//
// Thread safety: the flags are atomics; the hot path only loads them (relaxed).
#pragma once

#include <atomic>
#include <cstddef>

#include "sidecar/config.h"

namespace mlsidecar {

struct SidecarState {
  explicit SidecarState(const Config& c) : config(c) {}

  const Config& config;
  std::atomic<bool> draining{false};        // SIGTERM seen: not ready, close keep-alive connections
  std::atomic<bool> stopping{false};        // listeners closed: finish what is in flight
  std::atomic<bool> model_ready{false};     // last readiness probe of the model succeeded
  std::atomic<std::size_t> connections{0};  // open client connections (per connection, not request)
};

}  // namespace mlsidecar
