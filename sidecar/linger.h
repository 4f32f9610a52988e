// Closing a connection after an error answer without losing the answer. Closing a socket that
// still has unread bytes from the client makes the kernel reset the connection, and a reset can
// discard the answer before the client reads it. So: stop sending (FIN after the answer), read and
// discard what the client still sends, and close when it closes, after `time`, or after
// `max_bytes`, whichever comes first.
//
// Thread safety: runs on the socket's I/O thread like any operation on it.
#pragma once

#include <chrono>
#include <cstddef>

#include "sidecar/net.h"

namespace mlsidecar {

net::Awaitable<void> linger_and_close(net::Socket& socket, std::chrono::milliseconds time,
                                      std::size_t max_bytes);

}  // namespace mlsidecar
