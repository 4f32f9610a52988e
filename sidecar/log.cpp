#include "sidecar/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace mlsidecar {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> instance;
  return instance;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::off:
      break;
  }
  return spdlog::level::off;
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

}  // namespace

void init_logging(std::string_view level) {
  if (logger()) return;
  spdlog::init_thread_pool(8192, 1);
  auto log = spdlog::create_async_nb<spdlog::sinks::stderr_sink_mt>("mlsidecar");
  log->set_pattern("%v");
  log->set_level(spdlog::level::from_str(std::string(level)));
  log->flush_on(spdlog::level::warn);
  logger() = log;
}

void flush_logging() {
  if (logger()) logger()->flush();
}

bool log_enabled(LogLevel level) { return logger() && logger()->should_log(to_spdlog(level)); }

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = timestamp();
  line["level"] = spdlog::level::to_string_view(to_spdlog(level)).data();
  line["event"] = event;
  for (const auto& [name, value] : fields) line[std::string(name)] = value;
  logger()->log(to_spdlog(level),
                line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void log_access(std::string_view method, std::string_view target, unsigned status, double seconds,
                std::string_view request_id) {
  log_event(LogLevel::info, "access",
            {{"method", std::string(method)},
             {"target", std::string(target)},
             {"status", std::to_string(status)},
             {"duration_ms", std::to_string(seconds * 1e3)},
             {"request_id", std::string(request_id)}});
}

}  // namespace mlsidecar
