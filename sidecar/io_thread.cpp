#include "sidecar/io_thread.h"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <utility>  // before Boost 1.74 awaitable.hpp, which needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "sidecar/grpc_upstream.h"
#include "sidecar/http_rules.h"
#include "sidecar/linger.h"
#include "sidecar/log.h"
#include "sidecar/proxy_session.h"

namespace mlsidecar {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);
// Connections answered 503 at the cap that may be on their way out at once, per thread, and how
// long each may linger for the client's last bytes (bounded: each holds a descriptor).
constexpr std::size_t kMaxRefusing = 16;
constexpr auto kRefusalLinger = std::chrono::milliseconds(500);
constexpr std::size_t kRefusalLingerBytes = 64 * 1024;
// Descriptors kept free of client and model connections: admin port, readiness probe, logs.
constexpr std::size_t kFdReserve = 64;

std::size_t connection_cap(std::size_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return max_connections;
  std::size_t fds = static_cast<std::size_t>(limit.rlim_cur);
  std::size_t by_fds = fds > kFdReserve + 2 ? (fds - kFdReserve) / 2 : 1;
  return std::min(max_connections, by_fds);
}
}  // namespace

IoThread::IoThread(std::size_t index, SidecarState& state, const RequestChain& chain,
                   tcp::endpoint upstream, std::optional<tcp::endpoint> grpc_upstream)
    : index_(index),
      state_(state),
      chain_(chain),
      tick_timer_(io_),
      backoff_timer_(io_),
      pool_(io_.get_executor(), state.config, std::move(upstream)),
      metrics_(chain.metrics().shard(index)),
      connection_cap_(connection_cap(state.config.max_connections)) {
  if (grpc_upstream) {
    grpc_ = std::make_shared<GrpcUpstream>(io_.get_executor(), *grpc_upstream, state.config);
  }
  if (index == 0 && connection_cap_ < state.config.max_connections) {
    log_event(LogLevel::info, "connections_capped_by_fd_limit",
              {{"max_connections", std::to_string(connection_cap_)}});
  }
}

IoThread::~IoThread() { join(); }

tcp::endpoint IoThread::listen(const tcp::endpoint& at) {
  net::Acceptor& acceptor = listeners_.emplace_back(io_).acceptor;
  acceptor.open(at.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor.local_endpoint();
}

void IoThread::start() {
  accepting_ = true;
  for (Listener& l : listeners_) accept_next(l);
  tick();
  thread_.emplace([this] {
    // `top -H` and /proc/PID/task/*/comm tell the threads apart (at most 15 characters).
    const std::string name = "mlsidecar-io" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    io_.run();
  });
}

void IoThread::accept_next(Listener& listener) {
  if (!accepting_) return;
  const bool at_cap = state_.connections.load(std::memory_order_relaxed) >= connection_cap_;
  if (at_cap && *refusing_ >= kMaxRefusing) {
    // Enough refusals on their way out: leave new connections in the backlog for a moment.
    back_off();
    return;
  }
  listener.waiting = true;
  listener.acceptor.async_accept(
      [this, &listener](boost::system::error_code ec, net::Socket socket) {
        listener.waiting = false;
        if (!accepting_) return;
        if (ec) {
          if (ec == asio::error::operation_aborted) return;
          // EMFILE/ENFILE and the like: back off instead of spinning on a full descriptor table.
          log_event(LogLevel::warn, "accept_failed", {{"error", ec.message()}});
          back_off();
          return;
        }
        if (state_.connections.load(std::memory_order_relaxed) >= connection_cap_) {
          refuse(std::move(socket));
        } else {
          start_proxy_session(*this, std::move(socket));
        }
        accept_next(listener);
      });
}

void IoThread::back_off() {
  backoff_timer_.expires_after(kAcceptBackoff);
  backoff_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    for (Listener& l : listeners_) {
      if (!l.waiting) accept_next(l);
    }
  });
}

namespace {
using Awaitable = net::Awaitable<void>;

// Answers 503 and closes gently (linger.h); the count of refusals going out drops at the end.
Awaitable answer_too_many(net::Socket socket, std::shared_ptr<std::size_t> refusing) {
  struct Done {
    std::shared_ptr<std::size_t> count;
    ~Done() { --*count; }
  } done{std::move(refusing)};
  const std::string answer = json_error_response(503, "too_many_connections",
                                                 "the sidecar is at --max-connections", false, {});
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(answer), net::redirect(ec));
  if (!ec) co_await linger_and_close(socket, kRefusalLinger, kRefusalLingerBytes);
}
}  // namespace

void IoThread::refuse(net::Socket socket) {
  metrics_.refused(metrics::Refusal::too_many_connections);
  ++*refusing_;
  asio::co_spawn(io_, answer_too_many(std::move(socket), refusing_), asio::detached);
}

void IoThread::tick() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    for (ConnectionBase* c = connections_; c != nullptr;) {
      ConnectionBase* next = c->next_;  // check_deadline may not unlink, but be safe
      c->check_deadline(now);
      c = next;
    }
    pool_.sweep(now);
    if (grpc_) grpc_->tick(now);
    tick();
  });
}

void IoThread::stop_accepting() {
  asio::post(io_, [this] {
    accepting_ = false;
    boost::system::error_code ignored;
    for (Listener& l : listeners_) l.acceptor.close(ignored);
    backoff_timer_.cancel();
    for (ConnectionBase* c = connections_; c != nullptr;) {
      ConnectionBase* next = c->next_;
      c->close_if_idle();
      c = next;
    }
    pool_.clear();
  });
}

void IoThread::stop() { io_.stop(); }

void IoThread::join() {
  if (thread_ && thread_->joinable()) thread_->join();
}

void IoThread::link(ConnectionBase* c) {
  c->next_ = connections_;
  if (connections_) connections_->prev_ = c;
  connections_ = c;
}

void IoThread::unlink(ConnectionBase* c) {
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else if (connections_ == c)
    connections_ = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
}

}  // namespace mlsidecar
