// Keep-alive connections to the model, one pool per I/O thread (so no locking): idle connections
// are reused most-recently-used first, checked for a close by the model before reuse when they
// have been idle a while, and closed after --upstream-idle-timeout.
//
// Thread safety: none; a pool belongs to the I/O thread that owns its io_context.
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/net.h"

namespace mlsidecar {

struct UpstreamConnection {
  explicit UpstreamConnection(const net::Executor& ex) : socket(ex) {}
  net::Socket socket;
  boost::beast::flat_buffer buffer;  // bytes read from the model, not yet parsed
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;  // came from the pool (may have been closed by the model meanwhile)
};

class UpstreamPool {
 public:
  UpstreamPool(net::Executor ex, const Config& config, boost::asio::ip::tcp::endpoint upstream);

  // An idle connection that still looks open, or nullptr.
  std::unique_ptr<UpstreamConnection> take(std::chrono::steady_clock::time_point now);
  // A fresh, unconnected connection.
  std::unique_ptr<UpstreamConnection> make();
  const boost::asio::ip::tcp::endpoint& endpoint() const { return upstream_; }
  // Returns a connection whose last exchange ended cleanly.
  void give_back(std::unique_ptr<UpstreamConnection> conn,
                 std::chrono::steady_clock::time_point now);
  // Closes connections idle past the timeout.
  void sweep(std::chrono::steady_clock::time_point now);
  void clear() { idle_.clear(); }
  std::size_t idle() const { return idle_.size(); }

 private:
  net::Executor ex_;
  const Config& config_;
  boost::asio::ip::tcp::endpoint upstream_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;  // back = most recently used
};

}  // namespace mlsidecar
