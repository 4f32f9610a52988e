// One I/O thread of the data path: its own io_context, its own acceptor on the data port
// (SO_REUSEPORT, so the kernel spreads connections over the threads), its own upstream pool and
// its own metric shard. Nothing on the request path is shared with other threads.
//
// Client connections are capped by --max-connections and by the file descriptor limit: each
// client connection may hold a model connection too, and some descriptors stay free for the admin
// port and the readiness probe, so that at the limit the sidecar still reports on itself. A
// connection accepted at the cap is answered 503 `too_many_connections` and closed (counted in
// mlsidecar_refused_requests_total); while a few such answers are still going out, further
// connections wait in the kernel's backlog instead.
//
// A coarse tick (every 250 ms) enforces the per-connection deadlines, so that pushing a deadline
// forward on every request is a plain store rather than a timer syscall, and sweeps the pool.
//
// Thread safety: stop_accepting() and stop() may be called from any thread; everything else runs
// on the thread itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "sidecar/net.h"

#include "sidecar/request_chain.h"
#include "sidecar/state.h"
#include "sidecar/upstream_pool.h"

namespace mlsidecar {

class GrpcUpstream;

// A client connection as its thread sees it: linked into the thread's list for deadlines and
// shutdown.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Called on every tick; closes what has passed its deadline.
  virtual void check_deadline(std::chrono::steady_clock::time_point now) = 0;
  // Called when the listener closes: a connection between requests closes now.
  virtual void close_if_idle() = 0;

 private:
  friend class IoThread;
  ConnectionBase* prev_ = nullptr;
  ConnectionBase* next_ = nullptr;
};

class IoThread {
 public:
  IoThread(std::size_t index, SidecarState& state, const RequestChain& chain,
           boost::asio::ip::tcp::endpoint upstream,
           std::optional<boost::asio::ip::tcp::endpoint> grpc_upstream = std::nullopt);
  ~IoThread();

  // Binds a data port (SO_REUSEPORT); returns the bound endpoint (port 0 resolved). Called once
  // for --listen and once more for --grpc-listen: both serve alike.
  boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& at);
  void start();
  void stop_accepting();
  void stop();
  void join();

  std::size_t index() const { return index_; }
  boost::asio::io_context& io() { return io_; }
  SidecarState& state() { return state_; }
  const RequestChain& chain() const { return chain_; }
  UpstreamPool& pool() { return pool_; }
  // The model's gRPC port; null without --grpc-upstream. Sessions hold a reference, so it lives
  // as long as the last of their coroutines (which the io_context may destroy after this).
  const std::shared_ptr<GrpcUpstream>& grpc_upstream() { return grpc_; }
  metrics::RequestMetrics::Shard& metrics() { return metrics_; }

  void link(ConnectionBase* c);
  void unlink(ConnectionBase* c);

 private:
  struct Listener {
    explicit Listener(boost::asio::io_context& io) : acceptor(io) {}
    net::Acceptor acceptor;
    bool waiting = false;  // an accept is pending
  };
  void accept_next(Listener& listener);
  void back_off();
  void refuse(net::Socket socket);
  void tick();

  std::size_t index_;
  SidecarState& state_;
  const RequestChain& chain_;
  boost::asio::io_context io_{1};
  std::deque<Listener> listeners_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer backoff_timer_;
  UpstreamPool pool_;
  std::shared_ptr<GrpcUpstream> grpc_;
  metrics::RequestMetrics::Shard& metrics_;
  ConnectionBase* connections_ = nullptr;
  std::size_t connection_cap_;  // --max-connections, lowered to what the fd limit allows
  // Refusals at the cap still being written and closed; shared with their coroutines, which may
  // outlive this object's members when the io_context is destroyed.
  std::shared_ptr<std::size_t> refusing_ = std::make_shared<std::size_t>(0);
  bool accepting_ = false;
  std::optional<std::thread> thread_;
};

}  // namespace mlsidecar
