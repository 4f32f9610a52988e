#include "sidecar/shadow_worker.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <limits>
#include <optional>
#include <string_view>

#include "metrics/shadow/shadow_analysis.h"
#include "sidecar/net.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using net::Awaitable;
using net::redirect;

namespace {

// The x-request-id the copy's head carries (request_taps.cpp writes that line once, lower case,
// after the request line). Found as a line, not as text: a field value cannot hold CRLF, but it
// can hold "x-request-id: " (the id itself is the client's).
std::string_view request_id(std::string_view head) {
  constexpr std::string_view kLine = "\r\nx-request-id: ";
  const std::size_t at = head.find(kLine);
  if (at == std::string_view::npos) return {};
  const std::string_view value = head.substr(at + kLine.size());
  return value.substr(0, value.find("\r\n"));
}

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kReadPiece = 16 * 1024;
constexpr int kMaxInterimResponses = 8;
// A pooled connection idle this long is closed: model servers close theirs after a few seconds
// (uvicorn 5 s), and a socket the shadow closed would sit in CLOSE_WAIT until reused.
constexpr std::chrono::milliseconds kIdleExpiry{2000};
// How often the idle pool is checked for connections expired or closed by the shadow.
constexpr std::chrono::milliseconds kIdleSweep{500};
// A connection idle less than this is reused without a look (a recv syscall per copy, under
// load); one the shadow closed in that moment fails before any answer and is resent.
constexpr std::chrono::milliseconds kPeekAfter{100};
// The worker thread's nice value: on a core it shares with a busy I/O thread, it yields. In
// bench/shadow saturated (one pinned core, 10 % of requests copied), the primary's p50 ratio
// on/off went from 1.29 to 1.03 and the worker's CPU from 3.0 to 1.3 ms per 1000 requests (it
// runs less often and takes more copies per wake-up); no copy was dropped either way.
constexpr int kWorkerNice = 10;
// A wake-up waits this long before taking copies, so that the copies of a busy moment are taken
// together: fewer wake-ups of the worker and fewer posts by the I/O threads (a post is a syscall)
// under a steady stream of copies. Nothing waits for the shadow, so the delay costs nothing.
constexpr std::chrono::milliseconds kBatchDelay{10};

using Resolver = asio::ip::basic_resolver<tcp, net::Executor>;

struct ShadowConnection {
  explicit ShadowConnection(const net::Executor& ex) : socket(ex) {}
  net::Socket socket;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};  // when it went back to the pool
};

// Whether an idle connection can carry another request: not expired, and the shadow has neither
// closed it (a read would see end of file) nor sent anything unasked.
bool still_open(ShadowConnection& conn, Clock::time_point now) {
  if (now - conn.idle_since >= kIdleExpiry || conn.buffer.size() > 0) return false;
  if (now - conn.idle_since < kPeekAfter) return true;
  char byte;
  const ssize_t n =
      ::recv(conn.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);  // NOLINT
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// What one exchange holds. Shared with its deadline's handler, which may run after the
// coroutine has ended.
struct Exchange {
  explicit Exchange(const net::Executor& ex) : deadline(ex), resolver(ex) {}
  ShadowCopy copy;
  std::string head_out;  // the request head as sent: the copy's, with Host and the marker
  std::unique_ptr<ShadowConnection> conn;
  net::Timer deadline;
  Resolver resolver;
  bool timed_out = false;
  bool pooled = false;  // conn came from the idle pool
  void cut() {
    timed_out = true;
    resolver.cancel();
    if (conn) {
      error_code ignored;
      conn->socket.close(ignored);
    }
  }
};

// The shadow's answer as the exchange read it.
struct ShadowResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  bool truncated = false;
  bool encoded = false;      // a Content-Encoding other than identity
  bool reusable = false;     // complete, and the connection may carry another request
  bool any_bytes = false;    // the shadow answered something (no replay after that)
  Clock::time_point done{};  // the answer's last byte read
};

}  // namespace

struct ShadowWorker::Impl {
  Impl(Params p, std::vector<ShadowQueue*> q, shadow::ShadowAnalysis& a)
      : params(std::move(p)),
        queues(std::move(q)),
        analysis(a),
        work(asio::make_work_guard(io)),
        host(params.upstream.to_string()),
        sweep(io.get_executor()),
        batch(io.get_executor()) {}

  void pump_after_batch();
  void pump();
  Awaitable<void> run_exchange(std::shared_ptr<Exchange> ex);
  Awaitable<bool> connect(Exchange& ex, bool fresh);
  void pool(std::unique_ptr<ShadowConnection> conn);
  void arm_sweep();
  void sweep_idle();
  Awaitable<void> send_and_read(Exchange& ex, ShadowResponse& out, error_code& ec);
  void shut_down();
  void drop_queued();

  const Params params;
  const std::vector<ShadowQueue*> queues;
  shadow::ShadowAnalysis& analysis;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::atomic<bool> wake_pending{false};

  // The worker thread's own state.
  const std::string host;                               // the Host field of every copy
  std::vector<std::unique_ptr<ShadowConnection>> idle;  // back = most recently used
  std::vector<Exchange*> active;                        // at most max_in_flight
  std::size_t next_queue = 0;
  ShadowCopy next;  // what pump() pops into, before an exchange takes it
  bool stopping = false;
  net::Timer sweep;  // armed while the idle pool is not empty
  bool sweep_armed = false;
  net::Timer batch;  // armed from a wake-up until its pump (kBatchDelay)
};

void ShadowWorker::Impl::pump_after_batch() {
  if (stopping) return;
  batch.expires_after(kBatchDelay);
  batch.async_wait([this](error_code ec) {
    if (ec || stopping) return;
    // An exchange (not a store) so that pushes made before a wake that saw `true` are visible.
    wake_pending.exchange(false, std::memory_order_acq_rel);
    pump();
  });
}

void ShadowWorker::Impl::pump() {
  while (!stopping && active.size() < params.max_in_flight) {
    bool found = false;
    for (std::size_t i = 0; i < queues.size() && !found; ++i) {
      const std::size_t q = (next_queue + i) % queues.size();
      if (queues[q]->pop(next)) {
        found = true;
        next_queue = q + 1;
      }
    }
    if (!found) return;
    auto ex = std::make_shared<Exchange>(io.get_executor());
    ex->copy.swap(next);  // `next` is left with empty strings
    active.push_back(ex.get());
    asio::co_spawn(io, run_exchange(std::move(ex)), asio::detached);
  }
}

// A pooled connection still open (unless `fresh`), or a new one (resolved anew, so that a
// Service that moved is found).
Awaitable<bool> ShadowWorker::Impl::connect(Exchange& ex, bool fresh) {
  ex.pooled = false;
  const auto now = Clock::now();
  while (!fresh && !idle.empty()) {
    std::unique_ptr<ShadowConnection> conn = std::move(idle.back());
    idle.pop_back();
    if (still_open(*conn, now)) {
      ex.conn = std::move(conn);
      ex.pooled = true;
      co_return true;
    }
  }
  ex.conn = std::make_unique<ShadowConnection>(io.get_executor());
  error_code ec;
  const auto results = co_await ex.resolver.async_resolve(
      params.upstream.host, std::to_string(params.upstream.port), redirect(ec));
  if (ec || ex.timed_out || stopping) co_return false;
  co_await asio::async_connect(ex.conn->socket, results, redirect(ec));
  if (ec || ex.timed_out || stopping) co_return false;
  ex.conn->socket.set_option(tcp::no_delay(true), ec);
  co_return !ex.timed_out;
}

Awaitable<void> ShadowWorker::Impl::send_and_read(Exchange& ex, ShadowResponse& out,
                                                  error_code& ec) {
  ShadowConnection& conn = *ex.conn;
  std::string& head_out = ex.head_out;
  head_out.assign(ex.copy.head);
  head_out.append("Host: ").append(host).append("\r\nx-mlsidecar-shadow: 1\r\nContent-Length: ");
  head_out.append(std::to_string(ex.copy.request_body.size())).append("\r\n\r\n");
  const std::array<asio::const_buffer, 2> request{asio::buffer(head_out),
                                                  asio::buffer(ex.copy.request_body)};
  co_await asio::async_write(conn.socket, request, redirect(ec));
  if (ec) co_return;

  std::optional<http::response_parser<http::buffer_body>> parser;
  for (int interim = 0;; ++interim) {
    parser.emplace();
    parser->header_limit(kHeaderLimit);
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    co_await http::async_read_header(conn.socket, conn.buffer, *parser, redirect(ec));
    if (ec) co_return;
    out.any_bytes = true;
    const unsigned status = parser->get().result_int();
    if (status / 100 != 1 || status == 101) break;
    if (interim == kMaxInterimResponses) {
      ec = http::error::bad_value;
      co_return;
    }
  }
  auto& res = parser->get();
  out.status = static_cast<int>(res.result_int());
  if (out.status < 200 || out.status > 599) {
    out.status = 0;
    ec = http::error::bad_value;
    co_return;
  }
  out.content_type = std::string(res[http::field::content_type]);
  const std::string_view encoding = res[http::field::content_encoding];
  out.encoded = !encoding.empty() && !beast::iequals(encoding, "identity");
  char piece[kReadPiece];
  while (!parser->is_done()) {
    res.body().data = piece;
    res.body().size = sizeof piece;
    co_await http::async_read(conn.socket, conn.buffer, *parser, redirect(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return;
    const std::size_t got = sizeof piece - res.body().size;
    if (out.body.size() + got > params.max_body) {
      // A longer answer (an endless stream too) is cut here; its connection cannot be reused.
      out.body.append(piece, params.max_body - out.body.size());
      out.truncated = true;
      out.done = Clock::now();
      co_return;
    }
    out.body.append(piece, got);
  }
  out.done = Clock::now();
  out.reusable = res.keep_alive() && !parser->need_eof();
}

Awaitable<void> ShadowWorker::Impl::run_exchange(std::shared_ptr<Exchange> ex) {
  ex->deadline.expires_after(params.timeout);
  ex->deadline.async_wait([ex](error_code ec) {
    if (!ec) ex->cut();
  });
  ShadowResponse response;
  Clock::time_point sent{};
  // A pooled connection the shadow closed while idle fails before any answer: the copy is sent
  // once more, always on a new connection (the routes shadowed are safe to repeat), and the rest
  // of the idle pool, as old, is closed.
  for (int attempt = 0; attempt < 2 && !stopping; ++attempt) {
    if (!co_await connect(*ex, /*fresh=*/attempt > 0)) break;
    response = ShadowResponse{};
    // As the primary's latency (RequestTaps): from the request's first byte written to the
    // model, after connect, to the answer's last byte read.
    sent = Clock::now();
    error_code ec;
    co_await send_and_read(*ex, response, ec);
    if (!ec || response.any_bytes || !ex->pooled || ex->timed_out) {
      if (ec && !response.truncated) response.status = 0;
      break;
    }
    ex->conn.reset();
    idle.clear();
  }
  const Clock::time_point done =
      response.done == Clock::time_point{} ? Clock::now() : response.done;
  const double seconds =
      sent == Clock::time_point{} ? 0 : std::chrono::duration<double>(done - sent).count();
  ex->deadline.cancel();
  std::erase(active, ex.get());
  if (stopping) {
    analysis.record_dropped(params.producer, shadow::DropReason::shutdown);
    co_return;
  }
  const ShadowCopy& copy = ex->copy;
  shadow::ShadowPair pair;
  pair.route = copy.route;
  pair.request_id = request_id(copy.head);
  pair.request_body = copy.request_body;
  pair.primary = {copy.primary_status, copy.primary_seconds,   copy.primary_content_type,
                  copy.primary_body,   copy.primary_truncated, copy.primary_encoded};
  pair.shadow = {response.status,    seconds,         response.content_type, response.body,
                 response.truncated, response.encoded};
  analysis.record_pair(pair);
  if (response.reusable && ex->conn) pool(std::move(ex->conn));
  pump();
}

void ShadowWorker::Impl::pool(std::unique_ptr<ShadowConnection> conn) {
  if (stopping || idle.size() >= params.max_in_flight) return;  // closed
  conn->idle_since = Clock::now();
  idle.push_back(std::move(conn));
  arm_sweep();
}

void ShadowWorker::Impl::arm_sweep() {
  if (sweep_armed || idle.empty() || stopping) return;
  sweep_armed = true;
  sweep.expires_after(kIdleSweep);
  sweep.async_wait([this](error_code ec) {
    sweep_armed = false;
    if (!ec) sweep_idle();
  });
}

// Closes the idle connections expired or closed by the shadow (none is left in CLOSE_WAIT
// longer than a sweep); looks again later while any remain.
void ShadowWorker::Impl::sweep_idle() {
  if (stopping) return;
  const auto now = Clock::now();
  std::erase_if(idle, [now](const auto& conn) { return !still_open(*conn, now); });
  arm_sweep();
}

// On the worker thread: no new exchange starts, the open ones are cut (and count themselves as
// dropped when they end), pooled connections close.
void ShadowWorker::Impl::shut_down() {
  stopping = true;
  for (Exchange* ex : active) ex->cut();
  idle.clear();
  sweep.cancel();
  batch.cancel();
}

// After the thread has ended: the copies still queued were never sent.
void ShadowWorker::Impl::drop_queued() {
  ShadowCopy copy;
  for (ShadowQueue* queue : queues) {
    while (queue->pop(copy)) analysis.record_dropped(params.producer, shadow::DropReason::shutdown);
  }
}

ShadowWorker::ShadowWorker(Params params, std::vector<ShadowQueue*> queues,
                           shadow::ShadowAnalysis& analysis)
    : impl_(std::make_unique<Impl>(std::move(params), std::move(queues), analysis)) {}

ShadowWorker::~ShadowWorker() { stop(); }

void ShadowWorker::start() {
  thread_ = std::thread([impl = impl_.get()] {
    pthread_setname_np(pthread_self(), "mlsidecar-shdw");
    // Best effort: without the permission to, the worker runs at the I/O threads' priority.
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kWorkerNice);
    impl->io.run();
  });
}

void ShadowWorker::stop() {
  if (thread_.joinable()) {
    asio::post(impl_->io, [impl = impl_.get()] {
      impl->shut_down();
      impl->work.reset();
    });
    thread_.join();
  }
  impl_->drop_queued();
}

void ShadowWorker::wake() {
  if (impl_->wake_pending.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(impl_->io, [impl = impl_.get()] { impl->pump_after_batch(); });
}

}  // namespace mlsidecar
