// The `serve` process: builds the request chain (request_chain.h), the I/O threads, the admin
// server and the readiness probe from one Config, runs until SIGTERM/SIGINT, then shuts down
// gracefully:
//   1. /readyz fails at once and responses carry `Connection: close` (draining), for
//      --drain-seconds, while the data port keeps serving;
//   2. the listeners close and idle connections with them;
//   3. requests in flight finish, for at most --shutdown-timeout; then the process exits 0.
// A second signal during the drain skips what is left of it; a signal after the listeners have
// closed stops at once, cutting the requests still in flight. No signal extends the shutdown:
// --shutdown-timeout always holds.
#pragma once

#include <stdexcept>

#include "sidecar/config.h"

namespace mlsidecar {

// A failure to start (port in use, model address unresolvable): one line, exit code 1.
struct StartError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs the sidecar; returns the process exit code.
int serve(const Config& config);

}  // namespace mlsidecar
