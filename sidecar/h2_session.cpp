// The data port's HTTP/2 connections. See h2_session.h.
//
// One H2Session per connection, on its I/O thread. The bytes go:
//   socket -> ServerConnection::feed -> events -> H2Stream (grpc_call.cpp, h1_bridge.cpp)
//   model  -> H2Stream -> ServerConnection::send_data -> write loop -> socket
// Flow control is end to end (docs/http2.md): a request byte is returned to the client's window
// (consume) only once it has left towards the model, a response byte to the model's window only
// once it has left towards the client.
#include "sidecar/h2_session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "metrics/grpc_metrics.h"
#include "sidecar/config.h"
#include "sidecar/grpc_upstream.h"
#include "sidecar/h2/server_connection.h"
#include "sidecar/h2_stream.h"
#include "sidecar/io_thread.h"
#include "sidecar/request_chain.h"
#include "sidecar/state.h"

namespace mlsidecar {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::uint32_t kCancel = 8;
// Between the drain's first GOAWAY (new streams still admitted) and the final one.
constexpr auto kGoawayGrace = std::chrono::milliseconds(500);

}  // namespace

class H2Session final : public ConnectionBase,
                        public h2::ServerEvents,
                        public H2StreamHost,
                        public std::enable_shared_from_this<H2Session> {
 public:
  H2Session(IoThread& thread, net::Socket client)
      : thread_(thread),
        state_(thread.state()),
        chain_(thread.chain()),
        config_(state_.config),
        metrics_(thread.metrics()),
        upstream_(thread.grpc_upstream()),
        client_(std::move(client)),
        wake_(client_.get_executor()),
        conn_(*this, limits(config_)) {
    wake_.expires_at(Clock::time_point::max());
    thread_.link(this);
    state_.connections.fetch_add(1, std::memory_order_relaxed);
    last_active_ = Clock::now();
  }

  ~H2Session() override {
    calls_.clear();  // their destructors still reach this session
    thread_.unlink(this);
    state_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  static net::Awaitable<void> run(std::shared_ptr<H2Session> self, std::string first_bytes) {
    asio::co_spawn(self->client_.get_executor(), write_loop(self), asio::detached);
    if (self->feed(first_bytes)) co_await self->read_loop();
    self->reading_ = false;
    // The client is gone or refused: every call still open is cancelled at the model.
    for (auto& [id, call] : self->calls_) call->closed(kCancel);
    self->calls_.clear();
    self->kick();
  }

  // ConnectionBase: called on every tick and at drain.
  void check_deadline(Clock::time_point now) override {
    for (auto& [id, call] : calls_) call->check_deadline(now);
    if (drain_at_ != Clock::time_point{} && now >= drain_at_) {
      drain_at_ = {};
      conn_.goaway();
      kick();
    }
    // SIGTERM: as HTTP/1.1 keep-alive connections close after their response, this one is told
    // to go (clients open a new connection, to a ready pod) while its streams finish.
    if (state_.draining.load(std::memory_order_relaxed)) close_if_idle();
    if (calls_.empty() && now - last_active_ > config_.idle_timeout) close();
  }
  void close_if_idle() override {
    // The listener closed: GOAWAY at once (new streams still accepted for a moment, as they may
    // be in flight), the final GOAWAY a little later; streams in flight finish.
    if (goaway_sent_) return;
    goaway_sent_ = true;
    conn_.shutdown_notice();
    drain_at_ = Clock::now() + kGoawayGrace;
    kick();
  }

  // h2::ServerEvents
  void on_request_head(h2::StreamId id, const h2::RequestHead& head) override;
  void on_request_data(h2::StreamId id, std::string_view data) override {
    if (H2Stream* stream = find(id)) stream->request_data(data);
  }
  void on_request_end(h2::StreamId id) override {
    if (H2Stream* stream = find(id)) stream->request_end();
  }
  void on_response_data_sent(h2::StreamId id, std::size_t bytes) override {
    if (H2Stream* stream = find(id)) stream->response_data_sent(bytes);
  }
  void on_stream_close(h2::StreamId id, std::uint32_t error_code) override {
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second->closed(error_code);
    calls_.erase(it);
  }
  void on_stream_refused(h2::StreamId id, h2::Refusal reason) override {
    refused(reason);
    if (H2Stream* stream = find(id)) stream->refused(reason);
  }

  // H2StreamHost
  h2::ServerConnection& conn() override { return conn_; }
  IoThread& thread() override { return thread_; }
  GrpcUpstream* grpc_upstream() override { return upstream_.get(); }
  H2Stream* find(h2::StreamId id) override {
    const auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }
  std::shared_ptr<H2StreamHost> keep_alive() override { return shared_from_this(); }
  net::Executor executor() { return client_.get_executor(); }
  void kick() override { wake_.cancel(); }

 private:
  static h2::Limits limits(const Config& config) {
    h2::Limits l;
    l.max_concurrent_streams = config.h2_max_streams;
    l.max_header_list_bytes =
        static_cast<std::uint32_t>(std::min<std::size_t>(config.max_header_bytes, UINT32_MAX));
    l.max_message_bytes = config.grpc_max_message_bytes;
    l.max_request_bytes = config.max_body_bytes;
    return l;
  }

  // False when the connection is over.
  bool feed(std::string_view bytes) {
    last_active_ = Clock::now();
    const h2::FeedResult r = conn_.feed(bytes, last_active_);
    kick();
    if (r.verdict == h2::Verdict::close) {
      if (r.reason != h2::Refusal::none) refused(r.reason);
      return false;
    }
    return true;
  }

  net::Awaitable<void> read_loop() {
    char buf[kReadSize];
    for (;;) {
      error_code ec;
      const std::size_t n = co_await client_.async_read_some(asio::buffer(buf), net::redirect(ec));
      if (ec) co_return;
      if (!feed(std::string_view(buf, n))) co_return;
    }
  }

  static net::Awaitable<void> write_loop(std::shared_ptr<H2Session> self) {
    for (;;) {
      const std::string_view out =
          self->closed_ ? std::string_view{} : self->conn_.pending_output();
      if (!out.empty()) {
        error_code ec;
        const std::size_t n =
            co_await asio::async_write(self->client_, asio::buffer(out), net::redirect(ec));
        if (ec) break;
        self->conn_.output_written(n);
        self->last_active_ = Clock::now();
        continue;
      }
      if (self->closed_ || !self->reading_ || self->conn_.wants_close()) break;
      error_code ec;
      co_await self->wake_.async_wait(net::redirect(ec));
    }
    self->close();
  }

  void refused(h2::Refusal reason) {
    thread_.chain().grpc().shard(thread_.index()).http2_refused(static_cast<std::size_t>(reason));
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    client_.shutdown(net::Socket::shutdown_both, ignored);
    client_.close(ignored);
    kick();
  }

  IoThread& thread_;
  SidecarState& state_;
  const RequestChain& chain_;
  const Config& config_;
  metrics::RequestMetrics::Shard& metrics_;
  std::shared_ptr<GrpcUpstream> upstream_;
  net::Socket client_;
  net::Timer wake_;
  h2::ServerConnection conn_;
  std::unordered_map<h2::StreamId, std::unique_ptr<H2Stream>> calls_;
  Clock::time_point last_active_;
  Clock::time_point drain_at_{};
  bool reading_ = true;
  bool closed_ = false;
  bool goaway_sent_ = false;
};

void H2Session::on_request_head(h2::StreamId id, const h2::RequestHead& head) {
  const Clock::time_point now = Clock::now();
  calls_.emplace(id, head.grpc ? start_grpc_call(*this, id, head, now)
                               : start_h1_bridge(*this, id, head, now));
}

void start_h2_session(IoThread& thread, net::Socket client, std::string_view first_bytes) {
  auto session = std::make_shared<H2Session>(thread, std::move(client));
  asio::co_spawn(session->executor(), H2Session::run(session, std::string(first_bytes)),
                 asio::detached);
}

}  // namespace mlsidecar
