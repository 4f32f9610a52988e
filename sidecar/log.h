// Structured logging: one JSON object per line on stderr, written by spdlog's async logger so that
// formatting and I/O stay off the I/O threads. Fields are (name, value) string pairs; values are
// JSON-escaped here.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mlsidecar {

enum class LogLevel { trace, debug, info, warn, error, off };

using LogField = std::pair<std::string_view, std::string>;

// Sets up the async logger at `level` ("trace".."off"). Call once at start-up.
void init_logging(std::string_view level);
void flush_logging();
bool log_enabled(LogLevel level);
void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});
// One access-log line (--access-log-sample) for a finished request.
void log_access(std::string_view method, std::string_view target, unsigned status, double seconds,
                std::string_view request_id);

}  // namespace mlsidecar
