// One client connection of the data port: reads requests, forwards each over a pooled upstream
// connection, relays the response as it arrives, records the request's metrics.
#pragma once

#include "sidecar/net.h"

namespace mlsidecar {

class IoThread;

// Starts serving an accepted client connection on `thread` (called on that thread).
void start_proxy_session(IoThread& thread, net::Socket client);

}  // namespace mlsidecar
