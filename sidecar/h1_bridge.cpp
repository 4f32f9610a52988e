// An HTTP/2 request that is not gRPC, relayed to the model's HTTP port (--upstream) as HTTP/1.1
// over the thread's pooled connections, its response relayed back as HTTP/2. See h2_stream.h.
//
// One coroutine per request does the HTTP/1.1 side in order: connect (or take a pooled
// connection), write the head, the body as it arrives (chunked when the client gave no length),
// read the response head, relay the body. It shares a Bridge with the stream object; when the
// client's stream closes first, the stream marks it gone and closes the model's connection, so
// the coroutine ends at its next wait without touching the stream. Request trailers are not
// relayed (HTTP/1.1 requests rarely carry them and the models here read none): docs/http2.md.
#include <utility>  // before Boost 1.74 awaitable.hpp, which needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cctype>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metrics/route.h"
#include "policies/admission_controller.h"
#include "sidecar/admission_wait.h"
#include "sidecar/config.h"
#include "sidecar/h2_stream.h"
#include "sidecar/http_rules.h"
#include "sidecar/io_thread.h"
#include "sidecar/request_chain.h"
#include "sidecar/upstream_pool.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kRelaySize = 16 * 1024;
// Response bytes waiting for the client's window before the model is read again.
constexpr std::size_t kHighWater = 256 * 1024;
constexpr std::uint32_t kInternalError = 2;

// What the stream and its coroutine share.
struct Bridge {
  explicit Bridge(const net::Executor& ex) : wake(ex) { wake.expires_at(Clock::time_point::max()); }

  h2::StreamId id = 0;
  std::string head;           // the HTTP/1.1 request head, ready to write
  bool chunked = false;       // the request body goes out chunked
  bool head_request = false;  // HEAD: the response has no body
  std::string body;           // request bytes received, not yet written (nor consumed)
  bool client_ended = false;
  bool gone = false;  // the client's stream has closed
  net::Timer wake;
  std::unique_ptr<UpstreamConnection> up;

  // What the finished request reports.
  unsigned status = 0;
  bool answered = false;  // the client's response is complete (or reset)
  std::uint64_t request_bytes = 0, response_bytes = 0;
  Clock::time_point sent_at{}, head_at{};
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false;

  void notify() { wake.cancel(); }
  void close_upstream() const {
    if (!up) return;
    error_code ignored;
    up->socket.close(ignored);
  }
};

// Answers the client with a JSON error, if nothing went out yet.
void answer_error(H2StreamHost& host, Bridge& b, unsigned status, std::string_view code,
                  std::string_view message) {
  if (b.answered || b.gone) return;
  b.answered = true;
  b.status = status;
  const h2::HeaderField fields[] = {{"content-type", "application/json"}};
  if (host.conn().submit_response(b.id, static_cast<int>(status), fields)) {
    host.conn().send_data(b.id, json_error_body(code, message));
    host.conn().end_response(b.id);
  }
  host.kick();
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

net::Awaitable<void> wait(Bridge& b) {
  error_code ignored;
  co_await b.wake.async_wait(net::redirect(ignored));
}

// The HTTP/1.1 side of one request; `session` keeps the connection's session alive.
net::Awaitable<void> relay(std::shared_ptr<H2StreamHost> session, std::shared_ptr<Bridge> b) {
  H2StreamHost& host = *session;
  IoThread& thread = host.thread();
  const Config& config = thread.state().config;
  error_code ec;

  // Connect, or take a pooled connection.
  b->up = thread.pool().take(Clock::now());
  if (!b->up) {
    b->up = thread.pool().make();
    b->deadline = Clock::now() + config.connect_timeout;
    co_await b->up->socket.async_connect(thread.pool().endpoint(), net::redirect(ec));
    if (b->gone) co_return;
    if (ec) {
      thread.metrics().upstream_error(b->timed_out ? metrics::UpstreamError::connect_timeout
                                                   : metrics::UpstreamError::connect_failed);
      answer_error(host, *b, b->timed_out ? 504 : 502,
                   b->timed_out ? "upstream_connect_timeout" : "upstream_unreachable",
                   "the model at " + config.upstream.to_string() + " cannot be reached");
      co_return;
    }
    b->up->socket.set_option(asio::ip::tcp::no_delay(true), ec);
    thread.metrics().upstream_connected();
  }

  // The head, then the body as it arrives; each byte written is returned to the client.
  b->sent_at = Clock::now();
  b->deadline = Clock::now() + config.upstream_timeout;
  co_await asio::async_write(b->up->socket, asio::buffer(b->head), net::redirect(ec));
  while (!ec && !b->gone) {
    if (!b->body.empty()) {
      std::string piece = std::move(b->body);
      b->body.clear();
      const std::size_t payload = piece.size();
      if (b->chunked) {
        char size[24];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        piece.insert(0, size, static_cast<std::size_t>(n));
        piece += "\r\n";
      }
      co_await asio::async_write(b->up->socket, asio::buffer(piece), net::redirect(ec));
      if (ec || b->gone) break;
      // Written: the client's window reopens by as much (held shut until now, so what waits here
      // is bounded by the stream window).
      host.conn().consume(b->id, payload);
      host.kick();
      continue;
    }
    if (b->client_ended) {
      if (b->chunked) {
        co_await asio::async_write(b->up->socket, asio::buffer("0\r\n\r\n", 5), net::redirect(ec));
      }
      break;
    }
    co_await wait(*b);
  }
  if (b->gone) co_return;

  // The response head.
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (b->head_request) parser.skip(true);
  if (!ec)
    co_await http::async_read_header(b->up->socket, b->up->buffer, parser, net::redirect(ec));
  if (b->gone) co_return;
  if (ec) {
    thread.metrics().upstream_error(b->timed_out ? metrics::UpstreamError::timeout
                                                 : metrics::UpstreamError::reset);
    answer_error(host, *b, b->timed_out ? 504 : 502,
                 b->timed_out ? "upstream_timeout" : "upstream_reset",
                 b->timed_out ? "the model did not answer within --upstream-timeout"
                              : "the model closed the connection before answering");
    co_return;
  }
  b->deadline = Clock::time_point::max();
  b->head_at = Clock::now();
  auto& res = parser.get();
  b->status = res.result_int();
  std::vector<std::string> names;
  std::vector<h2::HeaderField> fields;
  names.reserve(16);
  for (const auto& f : res) names.push_back(lowercase(f.name_string()));
  std::size_t i = 0;
  for (const auto& f : res) {
    const std::string& name = names[i++];
    if (is_hop_by_hop(name)) continue;
    fields.push_back({name, f.value()});
  }
  const bool bodyless = parser.is_done();
  host.conn().submit_response(b->id, static_cast<int>(b->status), fields, bodyless);
  host.kick();

  // The body, as it arrives, no faster than the client takes it.
  char buf[kRelaySize];
  while (!parser.is_done()) {
    while (!b->gone && host.conn().buffered(b->id) > kHighWater) co_await wait(*b);
    if (b->gone) co_return;
    res.body().data = buf;
    res.body().size = sizeof buf;
    co_await http::async_read_some(b->up->socket, b->up->buffer, parser, net::redirect(ec));
    if (b->gone) co_return;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
    const std::size_t got = sizeof buf - res.body().size;
    if (got == 0) continue;
    b->response_bytes += got;
    host.conn().send_data(b->id, std::string_view(buf, got));
    host.kick();
  }
  b->answered = true;
  if (ec) {
    // The model cut the body short: the client must not take it for whole.
    thread.metrics().upstream_error(metrics::UpstreamError::reset);
    host.conn().reset_stream(b->id, kInternalError);
  } else {
    if (!bodyless) host.conn().end_response(b->id);
    if (res.keep_alive() && !parser.need_eof()) {
      thread.pool().give_back(std::move(b->up), Clock::now());
    }
  }
  host.kick();
}

class H1Bridge final : public H2Stream {
 public:
  H1Bridge(H2StreamHost& host, h2::StreamId id, const h2::RequestHead& head, Clock::time_point now)
      : host_(host),
        b_(std::make_shared<Bridge>(host.thread().io().get_executor())),
        route_(classify_target(head.path).route),
        series_(series_of(host, head.path)),
        start_(now),
        in_flight_(host.thread().metrics(), host.thread().chain().signals(), now,
                   route_ != Route::health) {
    b_->id = id;
    b_->client_ended = head.end_stream;
    b_->head_request = head.method == "HEAD";
    build_head(head);
  }

  ~H1Bridge() override {
    b_->gone = true;
    b_->close_upstream();
    b_->notify();
  }

  void start() {
    const RequestChain& chain = host_.thread().chain();
    if (chain.admission_limited() && route_ != Route::health) {
      wait_ = admit_stream(host_, b_->id);
      return;
    }
    go();
  }

  void request_data(std::string_view data) override {
    b_->body.append(data);
    b_->request_bytes += data.size();
    b_->notify();
  }
  void request_end() override {
    b_->client_ended = true;
    b_->notify();
  }
  void response_data_sent(std::size_t) override { b_->notify(); }
  void refused(h2::Refusal reason) override {
    if (reason == h2::Refusal::request_too_large) {
      host_.thread().metrics().refused(metrics::Refusal::body_too_large);
      answer_error(host_, *b_, 413, "body_too_large", "request body larger than --max-body-bytes");
    }
    b_->gone = true;
    b_->close_upstream();
    b_->notify();
  }
  void closed(std::uint32_t error_code) override {
    if (error_code != 0 && !b_->answered) {
      host_.thread().metrics().refused(metrics::Refusal::client_aborted);
    }
    if (wait_) wait_->cancel();
    b_->gone = true;
    b_->close_upstream();
    b_->notify();
    finish(Clock::now());
  }
  void check_deadline(Clock::time_point now) override {
    if (now < b_->deadline) return;
    b_->deadline = Clock::time_point::max();
    b_->timed_out = true;
    b_->close_upstream();
  }
  void admitted(Failure failure, policies::AdmissionPermit permit) override {
    wait_.reset();
    if (failure != Failure::none) {
      host_.thread().metrics().refused(metrics::Refusal::bad_request);
      answer_error(host_, *b_, 503,
                   failure == Failure::queue_timeout ? "queue_timeout" : "queue_full",
                   "the model is at its concurrency limit");
      return;
    }
    permit_ = std::move(permit);
    go();
  }

 private:
  static std::size_t series_of(H2StreamHost& host, std::string_view path) {
    const RouteInfo route = classify_target(path);  // views into the head: used here only
    return host.thread().chain().metrics().model_index(route.model, route.version);
  }

  void go() {
    asio::co_spawn(host_.thread().io().get_executor(), relay(host_.keep_alive(), b_),
                   asio::detached);
  }

  // The HTTP/1.1 head: the request line, Host from :authority, every field but the hop-by-hop
  // ones and `te`, and the body's framing (its content-length, else chunked unless it has none).
  void build_head(const h2::RequestHead& head) {
    std::string& out = b_->head;
    out.reserve(256);
    out.append(head.method).append(" ").append(head.path).append(" HTTP/1.1\r\nHost: ");
    out.append(head.authority.empty() ? host_.thread().state().config.upstream.to_string()
                                      : std::string(head.authority));
    out.append("\r\n");
    bool has_length = false;
    for (const auto& f : head.headers) {
      // `te` means trailers to HTTP/2 only; `expect` would bring an interim 100 this side does
      // not wait for (the body is sent as it comes).
      if (is_hop_by_hop(f.name) || f.name == "te" || f.name == "expect") continue;
      has_length |= f.name == "content-length";
      out.append(f.name).append(": ").append(f.value).append("\r\n");
    }
    if (!has_length && !head.end_stream) {
      b_->chunked = true;
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (!has_length && (head.method == "POST" || head.method == "PUT")) {
      out.append("Content-Length: 0\r\n");
    }
    out.append("\r\n");
  }

  void finish(Clock::time_point now) {
    metrics::RequestSample sample;
    sample.series = series_;
    sample.route = route_;
    sample.status = b_->answered ? b_->status : 499;
    sample.duration_seconds = std::chrono::duration<double>(now - start_).count();
    if (b_->sent_at != Clock::time_point{}) {
      sample.upstream_seconds = std::chrono::duration<double>(now - b_->sent_at).count();
    }
    if (b_->head_at != Clock::time_point{}) {
      sample.first_byte_seconds = std::chrono::duration<double>(b_->head_at - start_).count();
    }
    sample.request_bytes = b_->request_bytes;
    sample.response_bytes = b_->response_bytes;
    in_flight_.finish(sample, now);
    permit_.reset();
  }

  H2StreamHost& host_;
  std::shared_ptr<Bridge> b_;
  Route route_;
  std::size_t series_;
  Clock::time_point start_;
  InFlight in_flight_;
  policies::AdmissionPermit permit_;
  std::shared_ptr<AdmissionWait> wait_;
};

}  // namespace

std::unique_ptr<H2Stream> start_h1_bridge(H2StreamHost& host, h2::StreamId id,
                                          const h2::RequestHead& head, Clock::time_point now) {
  auto bridge = std::make_unique<H1Bridge>(host, id, head, now);
  bridge->start();
  return bridge;
}

}  // namespace mlsidecar
