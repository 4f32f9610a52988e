#include "sidecar/upstream_pool.h"

#include <sys/socket.h>

#include <cerrno>

namespace mlsidecar {
namespace {

// After this long idle, a pooled connection is checked before reuse. Busy connections skip the
// check (it would cost a syscall per request), idle ones are where the model may have closed.
constexpr auto kCheckAfterIdle = std::chrono::milliseconds(500);
constexpr std::size_t kReadBuffer = 16 * 1024;

// True when the model has not closed the connection and sent nothing unasked.
bool still_open(UpstreamConnection& conn) {
  char byte;
  ssize_t n = ::recv(conn.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(net::Executor ex, const Config& config,
                           boost::asio::ip::tcp::endpoint upstream)
    : ex_(std::move(ex)), config_(config), upstream_(std::move(upstream)) {}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(std::chrono::steady_clock::time_point now) {
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    if (now - conn->idle_since < kCheckAfterIdle || still_open(*conn)) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::make() {
  auto conn = std::make_unique<UpstreamConnection>(ex_);
  // Beast reads into what the buffer has room for, 512 bytes when empty: a typical response head
  // would take two reads, and a stream twice as many writes.
  conn->buffer.reserve(kReadBuffer);
  return conn;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> conn,
                             std::chrono::steady_clock::time_point now) {
  if (idle_.size() >= config_.upstream_max_idle || conn->buffer.size() != 0) return;
  conn->idle_since = now;
  idle_.push_back(std::move(conn));
}

void UpstreamPool::sweep(std::chrono::steady_clock::time_point now) {
  std::erase_if(idle_, [&](const std::unique_ptr<UpstreamConnection>& c) {
    return now - c->idle_since > config_.upstream_idle_timeout;
  });
}

}  // namespace mlsidecar
