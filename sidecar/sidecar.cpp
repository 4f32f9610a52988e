#include "sidecar/sidecar.h"

#include <sys/resource.h>

#include <utility>  // before Boost 1.74 awaitable.hpp, which needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "metrics/process_metrics.h"
#include "sidecar/admin_server.h"
#include "sidecar/io_thread.h"
#include "sidecar/log.h"
#include "sidecar/model_metrics.h"
#include "sidecar/readiness_probe.h"
#include "sidecar/request_chain.h"

namespace mlsidecar {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kShutdownPoll = std::chrono::milliseconds(20);

void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

tcp::endpoint resolve(const Endpoint& e, const char* what) {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(e.host, std::to_string(e.port), ec);
  if (ec || results.empty()) {
    throw StartError(std::string("cannot resolve ") + what + " address " + e.to_string() + ": " +
                     ec.message());
  }
  return results.begin()->endpoint();
}

// Drives the shutdown sequence from the admin thread (see sidecar.h). The drain and the wait for
// requests in flight each have their own timer, so that no signal can cancel the wait that
// enforces --shutdown-timeout. Signals: the first starts the drain; one during the drain skips
// the rest of it; one after the listeners have closed stops at once, cutting what is in flight
// (a third Ctrl-C for someone at a terminal). None ever extends the shutdown.
class Shutdown {
 public:
  Shutdown(asio::io_context& io, SidecarState& state,
           std::vector<std::unique_ptr<IoThread>>& threads, AdminServer& admin)
      : io_(io),
        state_(state),
        threads_(threads),
        admin_(admin),
        signals_(io, SIGTERM, SIGINT),
        drain_timer_(io),
        idle_timer_(io) {}

  void arm() {
    signals_.async_wait([this](boost::system::error_code ec, int signo) {
      if (ec) return;
      on_signal(signo);
      if (!stopped_) arm();
    });
  }

 private:
  void on_signal(int signo) {
    const std::string sig = std::to_string(signo);
    if (!state_.draining.exchange(true)) {
      log_event(LogLevel::info, "draining",
                {{"signal", sig}, {"drain_ms", std::to_string(state_.config.drain.count())}});
      drain_timer_.expires_after(state_.config.drain);
      drain_timer_.async_wait([this](boost::system::error_code e) {
        if (!e) close_listeners();
      });
    } else if (!state_.stopping.load()) {
      log_event(LogLevel::info, "drain_skipped", {{"signal", sig}});
      drain_timer_.cancel();
      close_listeners();
    } else {
      log_event(LogLevel::warn, "stop_forced", {{"signal", sig}});
      stop();
    }
  }

  void close_listeners() {
    if (state_.stopping.exchange(true)) return;
    log_event(LogLevel::info, "listeners_closed",
              {{"connections", std::to_string(state_.connections.load())}});
    for (auto& t : threads_) t->stop_accepting();
    deadline_ = std::chrono::steady_clock::now() + state_.config.shutdown_timeout;
    wait_for_idle();
  }

  void wait_for_idle() {
    if (state_.connections.load() == 0 || std::chrono::steady_clock::now() >= deadline_) {
      stop();
      return;
    }
    idle_timer_.expires_after(kShutdownPoll);
    idle_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) wait_for_idle();
    });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    const std::size_t left = state_.connections.load();
    log_event(left == 0 ? LogLevel::info : LogLevel::warn, "stopped",
              {{"connections_left", std::to_string(left)}});
    for (auto& t : threads_) t->stop();
    admin_.stop();
    signals_.cancel();
    drain_timer_.cancel();
    idle_timer_.cancel();
    io_.stop();
  }

  asio::io_context& io_;
  SidecarState& state_;
  std::vector<std::unique_ptr<IoThread>>& threads_;
  AdminServer& admin_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;  // --drain-seconds after the first signal
  asio::steady_timer idle_timer_;   // polls for the last connection, until the deadline
  std::chrono::steady_clock::time_point deadline_{};
  bool stopped_ = false;
};

}  // namespace

int serve(const Config& given) {
  Config config = given;
  if (config.threads == 0) config.threads = available_cpus();
  init_logging(config.log_level);
  raise_fd_limit();

  const tcp::endpoint upstream = resolve(config.upstream, "upstream");
  std::optional<tcp::endpoint> grpc_upstream;
  if (const auto grpc = grpc_upstream_of(config)) grpc_upstream = resolve(*grpc, "gRPC upstream");
  const tcp::endpoint listen_at = resolve(config.listen, "listen");
  std::optional<tcp::endpoint> grpc_listen_at;
  if (const auto at = grpc_listen_of(config)) grpc_listen_at = resolve(*at, "gRPC listen");
  const tcp::endpoint admin_at = resolve(config.admin, "admin");

  SidecarState state(config);
  RequestChain chain(config);  // what every request passes through, in order

  std::vector<std::unique_ptr<IoThread>> threads;
  tcp::endpoint bound = listen_at;
  asio::io_context admin_io{1};
  // With the model's own metrics merged into the same scrape, the pod's process_* are the
  // model's: the sidecar's own step aside as mlsidecar_process_*.
  std::shared_ptr<ModelMetrics> model_metrics;
  if (!config.merge_metrics.empty()) {
    model_metrics = std::make_shared<ModelMetrics>(*parse_metrics_url(config.merge_metrics),
                                                   config.merge_metrics_timeout);
  }
  std::vector<std::shared_ptr<prometheus::Collectable>> more = {
      std::make_shared<metrics::ProcessMetrics>(model_metrics ? "mlsidecar_" : "")};
  if (model_metrics) more.push_back(model_metrics);
  AdminServer admin(admin_io, state, chain, std::move(more), model_metrics);
  tcp::endpoint admin_bound;
  try {
    for (unsigned i = 0; i < config.threads; ++i) {
      threads.push_back(std::make_unique<IoThread>(i, state, chain, upstream, grpc_upstream));
      bound = threads.back()->listen(bound);  // port 0: the others join the first one's port
      if (grpc_listen_at) grpc_listen_at = threads.back()->listen(*grpc_listen_at);
    }
    admin_bound = admin.start(admin_at);
  } catch (const boost::system::system_error& e) {
    throw StartError("cannot listen: " + std::string(e.what()));
  }
  chain.start();

  Shutdown shutdown(admin_io, state, threads, admin);
  shutdown.arm();
  asio::co_spawn(admin_io, probe_readiness(state, upstream, grpc_upstream), asio::detached);
  for (auto& t : threads) t->start();
  log_event(
      LogLevel::info, "listening",
      {{"data", bound.address().to_string() + ":" + std::to_string(bound.port())},
       {"admin", admin_bound.address().to_string() + ":" + std::to_string(admin_bound.port())},
       {"grpc_data", grpc_listen_at ? grpc_listen_at->address().to_string() + ":" +
                                          std::to_string(grpc_listen_at->port())
                                    : std::string()},
       {"upstream", config.upstream.to_string()},
       {"grpc_upstream", config.grpc_upstream},
       {"threads", std::to_string(config.threads)},
       {"version", MLSIDECAR_VERSION}});

  admin_io.run();
  for (auto& t : threads) t->join();
  chain.stop();
  log_event(LogLevel::info, "exit", {});
  flush_logging();
  return 0;
}

}  // namespace mlsidecar
