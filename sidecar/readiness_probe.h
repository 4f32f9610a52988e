// Probes the model's readiness on a timer: a TCP connect when no path is configured, else
// `GET <ready-path>` answered 2xx within the probe timeout; with --ready-grpc, a gRPC health or
// ServerReady call on the model's gRPC port instead (grpc_probe.h). The result is published in
// SidecarState::model_ready, which /readyz reads.
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

#include "sidecar/state.h"

namespace mlsidecar {

// Runs until the io_context stops; logs readiness changes.
boost::asio::awaitable<void> probe_readiness(
    SidecarState& state, boost::asio::ip::tcp::endpoint upstream,
    std::optional<boost::asio::ip::tcp::endpoint> grpc_upstream = std::nullopt);

}  // namespace mlsidecar
