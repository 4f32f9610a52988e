// HTTP/2 connections to the model's gRPC port. See grpc_upstream.h.
#include "sidecar/grpc_upstream.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <unordered_map>

#include "sidecar/config.h"

namespace mlsidecar {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr std::size_t kReadSize = 16 * 1024;
// An idle connection is pinged this often; a PING unanswered for kPingTimeout closes it.
constexpr auto kPingInterval = std::chrono::seconds(30);
constexpr auto kPingTimeout = std::chrono::seconds(10);

h2::Limits upstream_limits() {
  h2::Limits limits;
  // The model may answer with large messages; what we hold is bounded by the stream window,
  // which the relay opens only as the client takes the bytes.
  limits.max_message_bytes = UINT32_MAX;
  return limits;
}
}  // namespace

// One HTTP/2 connection to the model. Owned by GrpcUpstream::links_ and by its own coroutines,
// so that it outlives its removal from the pool while a read or write is still in flight.
class UpstreamLink final : public h2::ClientEvents,
                           public std::enable_shared_from_this<UpstreamLink> {
 public:
  using Clock = GrpcUpstream::Clock;

  UpstreamLink(GrpcUpstream& owner, const net::Executor& executor)
      : owner_(&owner), socket_(executor), wake_(executor), h2_(*this, upstream_limits()) {
    wake_.expires_at(Clock::time_point::max());
  }

  void start(const tcp::endpoint& endpoint, Clock::time_point connect_deadline) {
    connect_deadline_ = connect_deadline;
    asio::co_spawn(socket_.get_executor(), run(shared_from_this(), endpoint), asio::detached);
  }

  bool ready() const { return connected_ && !closed_; }
  bool connecting() const { return !connected_ && !closed_; }
  bool can_open() const { return ready() && h2_.can_open_stream(); }
  bool idle() const { return streams_.empty(); }
  h2::ClientConnection& h2() { return h2_; }

  h2::StreamId submit(UpstreamCall& call) {
    const h2::StreamId id = h2_.submit_request(call.request_line(), call.request_headers());
    if (id < 0) return id;
    streams_[id] = &call;
    call.link_ = this;
    call.stream_ = id;
    kick();
    return id;
  }
  void forget(UpstreamCall& call, std::uint32_t error_code) {
    streams_.erase(call.stream_);
    if (!closed_) h2_.reset_stream(call.stream_, error_code);
    call.link_ = nullptr;
    call.stream_ = -1;
    if (streams_.empty()) idle_since_ = Clock::now();
    kick();
  }
  void kick() { wake_.cancel(); }

  void tick(Clock::time_point now) {
    if (closed_) return;
    if (!connected_) {
      if (now >= connect_deadline_) {
        timed_out_ = true;
        close();
      }
      return;
    }
    if (h2_.ping_outstanding()) {
      if (now - ping_sent_ > kPingTimeout) close();
      return;
    }
    if (!streams_.empty()) return;
    if (now - idle_since_ > owner_config().upstream_idle_timeout) {
      close();
    } else if (now - last_ping_ > kPingInterval && h2_.submit_ping()) {
      ping_sent_ = last_ping_ = now;
      kick();
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    kick();
  }
  // GrpcUpstream goes away: no more calls into it.
  void detach() { owner_ = nullptr; }

  // h2::ClientEvents: each goes to the call of the stream.
  void on_response_head(h2::StreamId id, const h2::ResponseHead& head) override {
    if (UpstreamCall* call = find(id)) call->upstream_head(head);
  }
  void on_response_data(h2::StreamId id, std::string_view data) override {
    if (UpstreamCall* call = find(id)) call->upstream_data(data);
  }
  void on_response_trailers(h2::StreamId id, std::span<const h2::HeaderField> trailers) override {
    if (UpstreamCall* call = find(id)) call->upstream_trailers(trailers);
  }
  void on_request_data_sent(h2::StreamId id, std::size_t bytes) override {
    if (UpstreamCall* call = find(id)) call->upstream_request_data_sent(bytes);
  }
  void on_stream_close(h2::StreamId id, std::uint32_t error_code, bool retryable) override {
    UpstreamCall* call = find(id);
    if (!call) return;
    streams_.erase(id);
    call->link_ = nullptr;
    call->stream_ = -1;
    if (streams_.empty()) idle_since_ = Clock::now();
    call->upstream_closed(error_code, retryable);
    // A stream ended: room for a queued call, here or on another connection.
    if (owner_) owner_->drain_queue();
  }

 private:
  UpstreamCall* find(h2::StreamId id) {
    const auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second;
  }
  const Config& owner_config() const { return owner_->config_; }

  static net::Awaitable<void> run(std::shared_ptr<UpstreamLink> self, tcp::endpoint endpoint) {
    error_code ec;
    co_await self->socket_.async_connect(endpoint, net::redirect(ec));
    if (ec || self->closed_) {
      self->closed_ = true;
      if (self->owner_) self->owner_->link_failed(*self, self->timed_out_);
      co_return;
    }
    self->socket_.set_option(tcp::no_delay(true), ec);
    self->connected_ = true;
    self->idle_since_ = self->last_ping_ = Clock::now();
    asio::co_spawn(self->socket_.get_executor(), write_loop(self), asio::detached);
    if (self->owner_) self->owner_->link_ready(*self);
    co_await self->read_loop();
    self->close();
    self->fail_streams();
    if (self->owner_) self->owner_->link_closed(*self);
  }

  net::Awaitable<void> read_loop() {
    char buf[kReadSize];
    while (!closed_) {
      error_code ec;
      const std::size_t n = co_await socket_.async_read_some(asio::buffer(buf), net::redirect(ec));
      if (ec) break;
      const h2::FeedResult r = h2_.feed(std::string_view(buf, n), Clock::now());
      kick();
      if (r.verdict == h2::Verdict::close) break;
    }
  }

  static net::Awaitable<void> write_loop(std::shared_ptr<UpstreamLink> self) {
    for (;;) {
      const std::string_view out = self->closed_ ? std::string_view{} : self->h2_.pending_output();
      if (!out.empty()) {
        error_code ec;
        const std::size_t n =
            co_await asio::async_write(self->socket_, asio::buffer(out), net::redirect(ec));
        if (ec) {
          self->close();
          co_return;
        }
        self->h2_.output_written(n);
        continue;
      }
      if (self->closed_) co_return;
      if (self->h2_.wants_close()) {
        self->close();
        co_return;
      }
      error_code ec;
      co_await self->wake_.async_wait(net::redirect(ec));
    }
  }

  // The connection is gone: every stream still open ends, not retryable (the model may have
  // processed it).
  void fail_streams() {
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, call] : streams) {
      call->link_ = nullptr;
      call->stream_ = -1;
      call->upstream_closed(2 /* INTERNAL_ERROR */, false);
    }
  }

  GrpcUpstream* owner_;
  net::Socket socket_;
  net::Timer wake_;
  h2::ClientConnection h2_;
  std::unordered_map<h2::StreamId, UpstreamCall*> streams_;
  Clock::time_point connect_deadline_ = Clock::time_point::max();
  Clock::time_point idle_since_{}, last_ping_{}, ping_sent_{};
  bool connected_ = false;
  bool closed_ = false;
  bool timed_out_ = false;
};

GrpcUpstream::GrpcUpstream(const net::Executor& executor, tcp::endpoint endpoint,
                           const Config& config)
    : executor_(executor), endpoint_(std::move(endpoint)), config_(config) {}

GrpcUpstream::~GrpcUpstream() { stop(); }

void GrpcUpstream::open(UpstreamCall& call) {
  if (call.pending_ || call.link_) return;
  call.pending_ = true;
  queue_.push_back(&call);
  drain_queue();
}

void GrpcUpstream::forget(UpstreamCall& call, std::uint32_t error_code) {
  if (call.pending_) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &call), queue_.end());
    call.pending_ = false;
  }
  if (call.link_) call.link_->forget(call, error_code);
}

bool GrpcUpstream::send_data(UpstreamCall& call, std::string_view data) {
  if (!call.link_) return false;
  const bool ok = call.link_->h2().send_data(call.stream_, data);
  call.link_->kick();
  return ok;
}

bool GrpcUpstream::end_request(UpstreamCall& call, std::span<const h2::HeaderField> trailers) {
  if (!call.link_) return false;
  const bool ok = call.link_->h2().end_request(call.stream_, trailers);
  call.link_->kick();
  return ok;
}

void GrpcUpstream::consume(UpstreamCall& call, std::size_t bytes) {
  if (!call.link_) return;
  call.link_->h2().consume(call.stream_, bytes);
  call.link_->kick();
}

bool GrpcUpstream::start_on(UpstreamLink& link, UpstreamCall& call) {
  call.pending_ = false;
  if (link.submit(call) < 0) {
    call.pending_ = true;
    return false;
  }
  call.upstream_opened();
  return true;
}

void GrpcUpstream::drain_queue() {
  while (!queue_.empty()) {
    UpstreamLink* room = nullptr;
    for (const auto& link : links_) {
      if (link->can_open()) {
        room = link.get();
        break;
      }
    }
    if (!room) {
      const bool connecting =
          std::any_of(links_.begin(), links_.end(), [](const auto& l) { return l->connecting(); });
      if (!connecting && links_.size() < kMaxLinks) {
        auto link = std::make_shared<UpstreamLink>(*this, executor_);
        links_.push_back(link);
        link->start(endpoint_, Clock::now() + config_.connect_timeout);
      }
      return;  // the queue waits for a connection, or for a stream to end
    }
    UpstreamCall* call = queue_.front();
    queue_.pop_front();
    if (!start_on(*room, *call)) {
      queue_.push_front(call);
      return;
    }
  }
}

void GrpcUpstream::link_ready(UpstreamLink&) { drain_queue(); }

void GrpcUpstream::link_failed(UpstreamLink& link, bool timeout) {
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [&link](const auto& l) { return l.get() == &link; }),
               links_.end());
  // The model cannot be reached: every waiting call fails now, as an HTTP/1.1 request would.
  auto waiting = std::move(queue_);
  queue_.clear();
  for (UpstreamCall* call : waiting) {
    call->pending_ = false;
    call->upstream_failed(timeout);
  }
}

void GrpcUpstream::link_closed(UpstreamLink& link) {
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [&link](const auto& l) { return l.get() == &link; }),
               links_.end());
  drain_queue();
}

void GrpcUpstream::tick(Clock::time_point now) {
  // tick() may close a link, whose coroutine later removes it: iterate over a copy.
  auto links = links_;
  for (const auto& link : links) link->tick(now);
}

void GrpcUpstream::stop() {
  auto links = std::move(links_);
  links_.clear();
  for (const auto& link : links) {
    link->detach();
    link->close();
  }
  queue_.clear();
}

}  // namespace mlsidecar
