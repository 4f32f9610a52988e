// The model's gRPC port as one I/O thread sees it: a few HTTP/2 cleartext connections that carry
// the gRPC calls of every client connection of the thread, as streams. A call opens a stream on a
// connection with room (the model's SETTINGS_MAX_CONCURRENT_STREAMS, no GOAWAY); when none has
// room a new connection is made, up to kMaxLinks, and past that the call waits for a stream to
// end. A stream the model refused before processing it (REFUSED_STREAM, or above a GOAWAY's last
// stream id) is reported `retryable`, and the call may open again, on another connection. Idle
// connections get a keepalive PING and are closed after --upstream-idle-timeout, or when a PING
// stays unanswered.
//
// Thread safety: none; one per I/O thread, used on it only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sidecar/h2/client_connection.h"
#include "sidecar/net.h"

namespace mlsidecar {

struct Config;
class GrpcUpstream;
class UpstreamLink;

// One call as the upstream side sees it; the data port's HTTP/2 session implements it. Its
// callbacks run on the I/O thread, from GrpcUpstream's functions or the connections' reads.
class UpstreamCall {
 public:
  // The request head to send (copied by the connection before the call returns).
  virtual h2::RequestLine request_line() const = 0;
  virtual std::span<const h2::HeaderField> request_headers() const = 0;

  // A stream is open: the body may go (send_data, end_request).
  virtual void upstream_opened() = 0;
  // No connection to the model could be made; `timeout`: the connect timed out.
  virtual void upstream_failed(bool timeout) = 0;
  virtual void upstream_head(const h2::ResponseHead& head) = 0;
  virtual void upstream_data(std::string_view data) = 0;
  virtual void upstream_trailers(std::span<const h2::HeaderField> trailers) = 0;
  // `bytes` of the body left towards the model: the client may send as much more.
  virtual void upstream_request_data_sent(std::size_t bytes) = 0;
  // The stream is gone (error_code 0 after a complete exchange). `retryable`: the model refused
  // it unprocessed; open() may send it again.
  virtual void upstream_closed(std::uint32_t error_code, bool retryable) = 0;

 protected:
  ~UpstreamCall() = default;

 private:
  friend class GrpcUpstream;
  friend class UpstreamLink;
  UpstreamLink* link_ = nullptr;  // the connection of the open stream
  h2::StreamId stream_ = -1;
  bool pending_ = false;  // waiting in GrpcUpstream's queue
};

class GrpcUpstream {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxLinks = 8;

  GrpcUpstream(const net::Executor& executor, boost::asio::ip::tcp::endpoint endpoint,
               const Config& config);
  ~GrpcUpstream();
  GrpcUpstream(const GrpcUpstream&) = delete;
  GrpcUpstream& operator=(const GrpcUpstream&) = delete;

  // Opens a stream for `call` now or as soon as a connection has room; the call then hears
  // upstream_opened() or upstream_failed(), possibly before this returns.
  void open(UpstreamCall& call);
  // The call is going away: out of the queue, and its open stream reset with `error_code`
  // (CANCEL = 8). No callback reaches it afterwards.
  void forget(UpstreamCall& call, std::uint32_t error_code);

  // The body of an open call, and its flow control (see h2::ClientConnection).
  bool send_data(UpstreamCall& call, std::string_view data);
  bool end_request(UpstreamCall& call, std::span<const h2::HeaderField> trailers = {});
  void consume(UpstreamCall& call, std::size_t bytes);

  // On the thread's tick: connect timeouts, keepalive PINGs, idle connections.
  void tick(Clock::time_point now);
  // Closes every connection (shutdown); calls still open hear upstream_closed.
  void stop();

  const net::Executor& executor() const { return executor_; }

 private:
  friend class UpstreamLink;
  void link_ready(UpstreamLink& link);
  void link_failed(UpstreamLink& link, bool timeout);
  void link_closed(UpstreamLink& link);
  void drain_queue();
  bool start_on(UpstreamLink& link, UpstreamCall& call);

  net::Executor executor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  const Config& config_;
  std::vector<std::shared_ptr<UpstreamLink>> links_;
  std::deque<UpstreamCall*> queue_;
};

}  // namespace mlsidecar
