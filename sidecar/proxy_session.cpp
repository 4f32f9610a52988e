#include "sidecar/proxy_session.h"

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cerrno>
#include <limits>
#include <optional>

#include "metrics/route.h"
#include "policies/admission_controller.h"
#include "sidecar/admission_wait.h"
#include "sidecar/buffered_body.h"
#include "sidecar/exchange_rules.h"
#include "sidecar/h2/preface.h"
#include "sidecar/h2_session.h"
#include "sidecar/http_rules.h"
#include "sidecar/io_thread.h"
#include "sidecar/linger.h"
#include "sidecar/log.h"
#include "sidecar/request_chain.h"
#include "sidecar/request_failure.h"
#include "sidecar/request_taps.h"
#include "sidecar/wire.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadSize = 8 * 1024;
constexpr std::size_t kRelaySize = 16 * 1024;
// What the read buffer may hold beyond a full head: one read's worth of pipelined bytes. A line
// the parser cannot finish (an endless chunk-size line) ends at this bound with a 400.
constexpr std::size_t kBufferSlack = 64 * 1024;
// How long and how much a connection closed after an error answer keeps reading (linger.h).
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr std::size_t kUpstreamHeaderLimit = 64 * 1024;
// "No limit". Not boost::none: Boost 1.74's parser compares the Content-Length against the
// optional limit, and any number compares greater than an empty optional.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

std::string_view buffer_view(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

using net::Awaitable;
using net::redirect;

// One buffer goes out with send(), several with sendmsg() (see wire::absorb_small_body). Not a
// coroutine: the caller awaits the write itself, without a frame of its own. `frame` is not empty.
template <class Socket>
Awaitable<std::size_t> write_frame(Socket& socket, const wire::Frame& frame, error_code& ec) {
  const auto buffers = frame.buffers();
  if (buffers.size() == 1) return asio::async_write(socket, buffers[0], redirect(ec));
  return asio::async_write(socket, buffers, redirect(ec));
}

class ProxySession final : public ConnectionBase,
                           public std::enable_shared_from_this<ProxySession> {
 public:
  ProxySession(IoThread& thread, net::Socket client)
      : thread_(thread),
        state_(thread.state()),
        chain_(thread.chain()),
        config_(state_.config),
        metrics_(thread.metrics()),
        client_(std::move(client)),
        admission_wait_(client_.get_executor()),
        client_buf_(config_.max_header_bytes + kBufferSlack),
        taps_(chain_, thread.index()) {
    thread_.link(this);
    state_.connections.fetch_add(1, std::memory_order_relaxed);
    metrics_.connection_opened();
  }

  ~ProxySession() override {
    thread_.unlink(this);
    state_.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  Awaitable<void> run();

  void check_deadline(Clock::time_point now) override {
    // A request the model (or the queue) has held for a tick gets its client watched, so that a
    // client that leaves frees the model. Not done at once: the wait costs an epoll_ctl, which
    // most requests, answered within the tick, never need.
    if (watches_client(phase_) && !watching_client_) watch_client();
    if (now < deadline_) return;
    timed_out_ = true;
    deadline_ = Clock::time_point::max();
    const DeadlineAction action = on_deadline(phase_);
    if (action.close_upstream) close_upstream();
    if (action.close_client) close_client();
  }

  void close_if_idle() override {
    if (phase_ == Phase::idle) close_client();
  }

 private:
  using RequestParser = beast::http::request_parser<beast::http::buffer_body>;
  using ResponseParser = beast::http::response_parser<beast::http::buffer_body>;

  void set_phase(Phase phase, std::chrono::milliseconds timeout) {
    phase_ = phase;
    deadline_ = Clock::now() + timeout;
  }
  void close_client() {
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
  }
  void close_upstream() {
    if (!up_) return;
    error_code ignored;
    up_->socket.close(ignored);
  }
  char* relay_buffer() {
    if (!relay_) relay_.reset(new char[kRelaySize]);
    return relay_.get();
  }

  Awaitable<bool> serve_one();
  Awaitable<bool> refuse_head(const error_code& ec);
  Awaitable<Failure> acquire_upstream();
  Awaitable<Failure> send_request(bool expect_continue);
  Awaitable<Failure> read_response_head(bool head_request);
  Awaitable<Failure> relay_response(bool bodyless);
  Awaitable<void> write_raw(std::string text);
  void watch_client();
  Failure upstream_failure(const error_code& ec, Failure otherwise) const {
    if (client_gone_) return Failure::client;
    if (timed_out_) return Failure::upstream_timeout;
    return is_connection_error(ec) ? Failure::upstream_reset : otherwise;
  }

  IoThread& thread_;
  SidecarState& state_;
  const RequestChain& chain_;
  const Config& config_;
  metrics::RequestMetrics::Shard& metrics_;
  net::Socket client_;
  AdmissionWait admission_wait_;
  beast::flat_buffer client_buf_;
  std::unique_ptr<UpstreamConnection> up_;
  std::optional<RequestParser> req_;
  std::optional<ResponseParser> res_;
  std::unique_ptr<char[]> relay_;
  std::string head_out_;  // the head being forwarded, serialized once (see wire.h)
  RequestTaps taps_;

  Phase phase_ = Phase::idle;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  bool client_gone_ = false;
  bool watching_client_ = false;
  bool linger_ = false;  // close gently: an error answer went out before the request was read
  bool response_started_ = false;
  std::uint64_t request_bytes_ = 0;
  std::uint64_t response_bytes_ = 0;
};

Awaitable<void> ProxySession::run() {
  for (bool first = true;; first = false) {
    if (client_buf_.size() == 0) {
      if (state_.stopping.load(std::memory_order_relaxed)) break;
      set_phase(Phase::idle, config_.idle_timeout);
      error_code ec;
      std::size_t n =
          co_await client_.async_read_some(client_buf_.prepare(kReadSize), redirect(ec));
      client_buf_.commit(n);
      if (ec) break;
    }
    if (first) {
      // HTTP/2 with prior knowledge opens with its preface: the connection goes to an H2Session.
      // Only a prefix of the preface so far (a split first read) reads on, within the header
      // timeout; anything else is HTTP/1.1, decided by the first byte that differs.
      h2::Protocol protocol = h2::Protocol::need_more;
      set_phase(Phase::header, config_.header_timeout);
      for (;;) {
        protocol = h2::classify_preface(buffer_view(client_buf_));
        if (protocol != h2::Protocol::need_more) break;
        error_code ec;
        std::size_t n =
            co_await client_.async_read_some(client_buf_.prepare(kReadSize), redirect(ec));
        client_buf_.commit(n);
        if (ec) break;
      }
      if (protocol == h2::Protocol::need_more) break;
      if (protocol == h2::Protocol::h2) {
        phase_ = Phase::idle;
        deadline_ = Clock::time_point::max();
        start_h2_session(thread_, std::move(client_), buffer_view(client_buf_));
        co_return;
      }
    }
    if (!co_await serve_one()) break;
  }
  close_upstream();
  if (linger_) {
    set_phase(Phase::client_write, kLingerTime);
    co_await linger_and_close(client_, kLingerTime, kLingerBytes);
  }
  close_client();
}

// Answers a request head that could not be read; false: the connection is over.
Awaitable<bool> ProxySession::refuse_head(const error_code& ec) {
  const Failure failure = head_failure(ec, timed_out_);
  if (failure == Failure::none) co_return false;
  const FailureAnswer answer = answer_for(failure, ec.message());
  metrics_.refused(*answer.refusal);
  if (answer.silent) co_return false;
  linger_ = true;
  co_await write_raw(json_error_response(answer.status, answer.code, answer.message, false, {}));
  co_return false;
}

// One request and its response. The steps carry the numbers of docs/architecture.md, "The life
// of a request"; the decisions are the pure functions of exchange_rules.h.
Awaitable<bool> ProxySession::serve_one() {
  // 1. Read the head, within --max-header-bytes and --header-timeout.
  req_.emplace();
  req_->header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
  req_->body_limit(config_.max_body_bytes ? config_.max_body_bytes : kNoBodyLimit);
  set_phase(Phase::header, config_.header_timeout);
  timed_out_ = client_gone_ = response_started_ = false;
  request_bytes_ = response_bytes_ = 0;
  error_code ec;
  co_await beast::http::async_read_header(client_, client_buf_, *req_, redirect(ec));
  if (ec) co_return co_await refuse_head(ec);

  // 2. Refuse ambiguous framing; nothing of such a request reaches the model.
  const Clock::time_point start = Clock::now();
  auto& req = req_->get();
  if (std::string_view problem = framing_problem(req); !problem.empty()) {
    metrics_.refused(metrics::Refusal::bad_request);
    co_await write_raw(json_error_response(
        400, "bad_request", std::string("request has ") + std::string(problem), false, {}));
    linger_ = true;
    co_return false;
  }

  // 3. Classify the route and model; rewrite the head that goes to the model.
  const unsigned client_version = req.version();
  const bool client_keep_alive = req.keep_alive();
  const RouteInfo route = classify_target(req.target());
  const std::size_t series = chain_.metrics().model_index(route.model, route.version);
  const bool head_request = req.method() == beast::http::verb::head;
  const bool expect_continue =
      client_version == 11 && beast::iequals(req[beast::http::field::expect], "100-continue");
  req.erase(beast::http::field::expect);
  strip_hop_by_hop(req);
  const std::string_view request_id = ensure_request_id(req);
  req.version(11);

  // 4. The chain's parts start: metrics and signals (ended by the guard on every path), taps.
  InFlight in_flight(metrics_, chain_.signals(), start, route.route != Route::health);
  taps_.request_started(route, req, start);

  // 5. Admission: health checks bypass the queue, so a saturated model still answers its probes.
  policies::AdmissionPermit permit;
  Failure failure = Failure::none;
  if (chain_.admission_limited() && route.route != Route::health) {
    phase_ = Phase::queued;
    deadline_ = Clock::time_point::max();  // the queue timeout bounds this wait
    failure = co_await admission_wait_.admit(chain_.admission(), chain_.signals(),
                                             config_.queue_timeout, permit);
  }

  // 6. Forward: connect (or take a pooled connection), send the request and its body, read the
  // model's response head. Replayed once on a fresh connection where may_replay() allows.
  Clock::time_point sent_at{}, head_at{};
  const bool has_body = !req_->is_done();
  for (int attempt = 0; failure == Failure::none; ++attempt) {  // skipped when shed
    failure = co_await acquire_upstream();
    if (failure == Failure::none) {
      sent_at = Clock::now();
      taps_.request_sent(sent_at);
      failure = co_await send_request(expect_continue && attempt == 0);
    }
    if (failure == Failure::none) failure = co_await read_response_head(head_request);
    const bool pooled = up_ && up_->reused;
    if (!may_replay({attempt, pooled, has_body, is_idempotent(req.method()), failure, timed_out_,
                     client_gone_})) {
      break;
    }
    metrics_.upstream_error(metrics::UpstreamError::retried);
    up_.reset();
    failure = Failure::none;
  }
  if (failure == Failure::none) head_at = Clock::now();

  // 7. Relay the response as it arrives.
  unsigned status = 0;
  bool keep_alive = false;
  if (failure == Failure::none) {
    auto& res = res_->get();
    status = res.result_int();
    const bool upstream_reusable = res.keep_alive() && !res_->need_eof();
    const bool has_length = res.find(beast::http::field::content_length) != res.end();
    const ResponseFraming framing = frame_response(
        {client_version, client_keep_alive, state_.draining.load(std::memory_order_relaxed),
         head_request, status, has_length, req_->is_done()});
    strip_hop_by_hop(res);
    res.version(client_version);
    if (!framing.bodyless && !has_length) res.chunked(framing.chunked);
    keep_alive = framing.keep_alive;
    res.keep_alive(keep_alive);
    if (res.find("x-request-id") == res.end()) res.set("x-request-id", request_id);
    taps_.response_started(res, head_at);
    failure = co_await relay_response(framing.bodyless);
    if (failure == Failure::none && upstream_reusable && res_->is_done() && req_->is_done()) {
      thread_.pool().give_back(std::move(up_), Clock::now());
    }
  } else {
    keep_alive = client_keep_alive && !state_.draining.load(std::memory_order_relaxed);
  }
  up_.reset();  // a connection not given back is closed
  permit.reset();

  // 8. A failed request gets its JSON answer, if it can still have one.
  if (failure != Failure::none) {
    const FailureAnswer answer = answer_for(failure, config_.upstream.to_string());
    if (answer.refusal) metrics_.refused(*answer.refusal);
    if (answer.upstream_error) metrics_.upstream_error(*answer.upstream_error);
    status = answer.status;
    const FailureOutcome outcome =
        after_failure(failure, keep_alive, req_->is_done(), response_started_);
    keep_alive = outcome.keep_alive;
    if (outcome.write_answer) {
      timed_out_ = false;
      linger_ = outcome.linger;
      co_await write_raw(json_error_response(answer.status, answer.code, answer.message, keep_alive,
                                             request_id, answer.shed ? "Retry-After: 1\r\n" : ""));
    }
  }

  // 9. Finish: the guard records the sample, the taps hand over what they gathered.
  const Clock::time_point end = Clock::now();
  metrics::RequestSample sample;
  sample.series = series;
  sample.route = route.route;
  sample.status = status;
  sample.duration_seconds = seconds_between(start, end);
  if (sent_at != Clock::time_point{}) sample.upstream_seconds = seconds_between(sent_at, end);
  if (head_at != Clock::time_point{}) sample.first_byte_seconds = seconds_between(start, head_at);
  sample.request_bytes = request_bytes_;
  sample.response_bytes = response_bytes_;
  // A generation request names its model in the body, not the path: its series is that model,
  // as in the LLM families, so that one model label selects every panel of it.
  if (route.route == Route::generate && route.model.empty()) {
    if (const std::string_view model = taps_.generation_model(); !model.empty()) {
      sample.series = chain_.metrics().model_index(model, route.version);
    }
  }
  in_flight.finish(sample, end);
  taps_.request_finished(sample, failure == Failure::client, end);
  if (config_.access_log_sample > 0 && log_enabled(LogLevel::info) &&
      taps_.sample_access_log(config_.access_log_sample)) {
    log_access(req.method_string(), req.target(), status, sample.duration_seconds, request_id);
  }
  co_return keep_alive && !state_.stopping.load(std::memory_order_relaxed);
}

Awaitable<Failure> ProxySession::acquire_upstream() {
  up_ = thread_.pool().take(Clock::now());
  if (up_) co_return Failure::none;
  up_ = thread_.pool().make();
  set_phase(Phase::connect, config_.connect_timeout);
  error_code ec;
  co_await up_->socket.async_connect(thread_.pool().endpoint(), redirect(ec));
  if (ec) co_return timed_out_ ? Failure::connect_timeout : Failure::connect_failed;
  up_->socket.set_option(tcp::no_delay(true), ec);
  metrics_.upstream_connected();
  co_return Failure::none;
}

// Writes the request head and relays its body from the client as it arrives.
Awaitable<Failure> ProxySession::send_request(bool expect_continue) {
  auto& req = req_->get();
  head_out_.clear();
  wire::append_request_head(head_out_, req);
  std::string_view head = head_out_;
  const bool chunked = req.chunked();
  error_code ec;
  if (expect_continue && !req_->is_done() && client_buf_.size() == 0) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    set_phase(Phase::client_write, config_.idle_timeout);
    co_await asio::async_write(client_, asio::buffer(kContinue), redirect(ec));
    if (ec) co_return Failure::client;
  }
  char* buf = relay_buffer();
  for (;;) {
    std::size_t got = 0;
    if (!req_->is_done()) {
      set_phase(Phase::request_body, config_.idle_timeout);
      req.body().data = buf;
      req.body().size = kRelaySize;
      co_await beast::http::async_read_some(client_, client_buf_, *req_, redirect(ec));
      if (ec == beast::http::error::need_buffer) ec = {};
      if (ec == beast::http::error::body_limit) co_return Failure::body_too_large;
      if (ec && !is_connection_error(ec) && ec != asio::error::operation_aborted && !timed_out_) {
        co_return Failure::bad_body;
      }
      if (ec) co_return Failure::client;
      got = kRelaySize - req.body().size;
      if (got == 0 && !req_->is_done()) continue;
      request_bytes_ += got;
      taps_.request_body(std::string_view(buf, got));
    }
    const bool last = req_->is_done();
    if (last) taps_.request_complete();
    wire::absorb_small_body(head_out_, head, buf, got, chunked, last);
    set_phase(Phase::upstream_wait, config_.upstream_timeout);
    if (const wire::Frame frame(head, buf, got, chunked, last); !frame.empty()) {
      co_await write_frame(up_->socket, frame, ec);
      if (ec) co_return upstream_failure(ec, Failure::upstream_reset);
    }
    head = {};
    if (last) co_return Failure::none;
  }
}

// While the model works on a request, notice a client that goes away, so that the model's
// connection is freed instead of serving a response nobody reads.
void ProxySession::watch_client() {
  if (watching_client_) return;
  watching_client_ = true;
  client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
    self->watching_client_ = false;
    if (ec || !watches_client(self->phase_)) return;
    char byte;
    ssize_t n = ::recv(self->client_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      self->client_gone_ = true;
      self->close_upstream();
      self->admission_wait_.cancel();
    }
  });
}

Awaitable<Failure> ProxySession::read_response_head(bool head_request) {
  set_phase(Phase::upstream_wait, config_.upstream_timeout);
  error_code ec;
  for (;;) {
    res_.emplace();
    res_->header_limit(kUpstreamHeaderLimit);
    res_->body_limit(kNoBodyLimit);
    if (head_request) res_->skip(true);
    co_await beast::http::async_read_header(up_->socket, up_->buffer, *res_, redirect(ec));
    if (ec) {
      log_event(LogLevel::debug, "upstream_head_error", {{"error", ec.message()}});
      co_return upstream_failure(ec, Failure::upstream_invalid);
    }
    unsigned status = res_->get().result_int();
    // Beast takes any three digits; HTTP's status codes are 100-599 (RFC 9110, 15).
    if (status < 100 || status > 599) co_return Failure::upstream_invalid;
    if (status / 100 != 1) break;
    if (status == 101) co_return Failure::upstream_invalid;  // Upgrade is never forwarded
    // An interim response (103 Early Hints, a stray 100 Continue) is dropped; the final follows.
  }
  if (!framing_problem(res_->get()).empty()) co_return Failure::upstream_invalid;
  co_return Failure::none;
}

// Relays the response head and body to the client piece by piece as the model produces it: a
// streamed (chunked, text/event-stream) body reaches the client event by event. The head leaves
// with the first piece of the body already read, or alone at once when the body is a stream of
// which nothing has arrived yet (an SSE client sees the head before the first token).
Awaitable<Failure> ProxySession::relay_response(bool bodyless) {
  auto& res = res_->get();
  head_out_.clear();
  wire::append_response_head(head_out_, res);
  std::string_view head = head_out_;
  const bool chunked = res.chunked();
  const bool streamed = res_->chunked() || !res_->content_length();
  error_code ec;
  set_phase(Phase::client_write, config_.idle_timeout);
  if (bodyless || (streamed && up_->buffer.size() == 0 && !res_->is_done())) {
    response_started_ = true;
    co_await asio::async_write(client_, asio::buffer(head), redirect(ec));
    if (ec) co_return Failure::client;
    if (bodyless) co_return Failure::none;
    head = {};
  }
  char* buf = relay_buffer();
  for (;;) {
    std::size_t got = 0;
    if (!res_->is_done()) {
      set_phase(Phase::upstream_body, config_.upstream_timeout);
      res.body().data = buf;
      res.body().size = kRelaySize;
      co_await beast::http::async_read_some(up_->socket, up_->buffer, *res_, redirect(ec));
      if (ec == beast::http::error::need_buffer) ec = {};
      if (ec) {
        log_event(LogLevel::debug, "upstream_body_error", {{"error", ec.message()}});
        taps_.response_aborted();
        // A body cut short (the model died mid-stream) is a reset, not a malformed response.
        co_return upstream_failure(ec, ec == beast::http::error::partial_message
                                           ? Failure::upstream_reset
                                           : Failure::upstream_invalid);
      }
      got = kRelaySize - res.body().size;
      // Whatever the model has already sent goes out in the same write: a stream of small events
      // costs one write per read, not one per event.
      if (!res_->is_done() && up_->buffer.size() > 0) {
        if (!parse_buffered_body(*res_, up_->buffer, buf, kRelaySize, got)) {
          taps_.response_aborted();
          co_return Failure::upstream_invalid;
        }
      }
      if (got == 0 && !res_->is_done()) continue;
      response_bytes_ += got;
      taps_.response_body(std::string_view(buf, got), Clock::now());
    }
    const bool last = res_->is_done();
    wire::absorb_small_body(head_out_, head, buf, got, chunked, last);
    set_phase(Phase::client_write, config_.idle_timeout);
    response_started_ = true;
    if (const wire::Frame frame(head, buf, got, chunked, last); !frame.empty()) {
      co_await write_frame(client_, frame, ec);
      if (ec) co_return Failure::client;
    }
    head = {};
    if (last) co_return Failure::none;
  }
}

Awaitable<void> ProxySession::write_raw(std::string text) {
  set_phase(Phase::client_write, config_.idle_timeout);
  error_code ec;
  co_await asio::async_write(client_, asio::buffer(text), redirect(ec));
}

}  // namespace

namespace {
// The coroutine's frame owns the session, so it lives exactly as long as its connection.
Awaitable<void> run_session(std::shared_ptr<ProxySession> session) { co_await session->run(); }
}  // namespace

void start_proxy_session(IoThread& thread, net::Socket client) {
  error_code ec;
  client.set_option(tcp::no_delay(true), ec);
  asio::co_spawn(thread.io(),
                 run_session(std::make_shared<ProxySession>(thread, std::move(client))),
                 asio::detached);
}

}  // namespace mlsidecar
