#include "sidecar/model_metrics.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "metrics/exposition_merge.h"

namespace mlsidecar {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr const char* kResultNames[ModelMetrics::kResults] = {
    "ok", "connect_failed", "timeout", "bad_status", "too_large", "invalid_response"};
}  // namespace

ModelMetrics::ModelMetrics(MetricsUrl url, std::chrono::milliseconds timeout)
    : url_(std::move(url)), timeout_(timeout) {}

asio::awaitable<ModelMetrics::Result> ModelMetrics::fetch(std::string& body) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  stream.expires_after(timeout_);  // the whole exchange
  co_await stream.async_connect({asio::ip::make_address(url_.host), url_.port}, token);
  if (ec) co_return ec == beast::error::timeout ? Result::timeout : Result::connect_failed;
  http::request<http::empty_body> req{http::verb::get, url_.path, 11};
  req.set(http::field::host, url_.host + ":" + std::to_string(url_.port));
  req.set(http::field::accept, "text/plain;version=0.0.4;q=1,*/*;q=0.1");
  req.set(http::field::user_agent, "mlsidecar");
  req.keep_alive(false);
  co_await http::async_write(stream, req, token);
  if (ec) co_return ec == beast::error::timeout ? Result::timeout : Result::connect_failed;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxModelMetricsBytes);
  // The length is checked here too: Boost 1.74's response parser reports body_limit for a
  // Content-Length over the limit after entering the body state, and a later read goes on.
  co_await http::async_read_header(stream, buffer, parser, token);
  if (!ec && parser.content_length().value_or(0) > kMaxModelMetricsBytes) {
    co_return Result::too_large;
  }
  if (!ec && !parser.is_done()) co_await http::async_read(stream, buffer, parser, token);
  if (ec == beast::error::timeout) co_return Result::timeout;
  if (ec == http::error::body_limit) co_return Result::too_large;
  if (ec) co_return Result::invalid_response;
  if (parser.get().result_int() != 200) co_return Result::bad_status;
  body = std::move(parser.get().body());
  co_return Result::ok;
}

asio::awaitable<void> ModelMetrics::append_to(std::string& exposition) {
  std::string body;
  const Result result = co_await fetch(body);
  results_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  if (result != Result::ok) co_return;
  const metrics::MergeCounts counts = metrics::append_model_metrics(exposition, body);
  duplicate_families_.fetch_add(counts.duplicate_families, std::memory_order_relaxed);
  invalid_lines_.fetch_add(counts.invalid_lines, std::memory_order_relaxed);
}

std::vector<prometheus::MetricFamily> ModelMetrics::Collect() const {
  prometheus::MetricFamily fetches{
      "mlsidecar_model_metrics_fetches_total",
      "Fetches of the model's own metrics (--merge-metrics) by result.",
      prometheus::MetricType::Counter,
      {}};
  for (std::size_t i = 0; i < kResults; ++i) {
    prometheus::ClientMetric m;
    m.label = {{"result", kResultNames[i]}};
    m.counter.value = static_cast<double>(results_[i].load(std::memory_order_relaxed));
    fetches.metric.push_back(std::move(m));
  }
  prometheus::MetricFamily dropped{
      "mlsidecar_model_metrics_dropped_total",
      "What was left out of the model's metrics: families the sidecar also has, malformed lines.",
      prometheus::MetricType::Counter,
      {}};
  const std::pair<const char*, double> reasons[] = {
      {"duplicate_family", static_cast<double>(duplicate_families_.load())},
      {"invalid_line", static_cast<double>(invalid_lines_.load())}};
  for (const auto& [reason, value] : reasons) {
    prometheus::ClientMetric m;
    m.label = {{"reason", reason}};
    m.counter.value = value;
    dropped.metric.push_back(std::move(m));
  }
  return {std::move(fetches), std::move(dropped)};
}

}  // namespace mlsidecar
