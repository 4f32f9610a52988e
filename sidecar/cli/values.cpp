// Reading and showing one flag value. See flags.h.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "sidecar/cli/flags.h"

namespace mlsidecar {

std::string Endpoint::to_string() const {
  // Brackets for an IPv6 address, and for a host that itself starts with one, so that
  // read_endpoint reads the text back to the same host.
  bool bracket = host.find(':') != std::string::npos || (!host.empty() && host.front() == '[');
  return (bracket ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace mlsidecar

namespace mlsidecar::cli {
namespace {

[[noreturn]] void fail(const FlagSpec& spec, const std::string& value, const std::string& why) {
  throw UsageError("--" + spec.name + " '" + value + "': " + why);
}

double parse_double(const FlagSpec& spec, const std::string& v, double low, double high) {
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size() || v.empty() || !std::isfinite(out)) {
    fail(spec, v, "expected a number");
  }
  if (out < low || out > high) {
    fail(spec, v, "must be between " + show_number(low) + " and " + show_number(high));
  }
  return out;
}

}  // namespace

std::uint64_t read_uint(const FlagSpec& spec, const std::string& v) {
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size() || v.empty()) {
    fail(spec, v, "expected a whole number");
  }
  if (out > spec.max) fail(spec, v, "must be at most " + std::to_string(spec.max));
  if (out < spec.min) fail(spec, v, "must be at least " + std::to_string(spec.min));
  return out;
}

double read_number(const FlagSpec& spec, const std::string& v) {
  return parse_double(spec, v, spec.low, spec.high);
}

// "250ms", "30s", "5m", "1h", or a bare number of seconds ("2.5").
std::chrono::nanoseconds read_duration(const FlagSpec& spec, const std::string& v) {
  std::size_t unit_at = v.find_first_not_of("0123456789.");
  std::string number = v.substr(0, unit_at);
  std::string unit = unit_at == std::string::npos ? "s" : v.substr(unit_at);
  double scale = unit == "ms"  ? 1e6
                 : unit == "s" ? 1e9
                 : unit == "m" ? 60e9
                 : unit == "h" ? 3600e9
                               : -1;
  if (scale < 0 || number.empty()) fail(spec, v, "expected a duration such as 500ms, 30s or 5m");
  double value = parse_double(spec, number, 0, 1e9 * 1e9 / scale);
  return std::chrono::nanoseconds(std::llround(value * scale));
}

bool read_bool(const FlagSpec& spec, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  fail(spec, v, "expected true or false");
}

Endpoint read_endpoint(const FlagSpec& spec, const std::string& v) {
  std::size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon + 1 == v.size()) fail(spec, v, "expected HOST:PORT");
  Endpoint e;
  e.host = v.substr(0, colon);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  if (e.host.empty()) e.host = "0.0.0.0";
  FlagSpec port = spec;
  port.min = 0;
  port.max = 65535;
  e.port = static_cast<std::uint16_t>(read_uint(port, v.substr(colon + 1)));
  return e;
}

void check_choice(const FlagSpec& spec, const std::string& v) {
  if (std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end()) return;
  std::string list;
  for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + c;
  fail(spec, v, "expected one of " + list);
}

std::string show_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono_literals;
  if (d % 1s == 0ns) return std::to_string(d / 1s) + "s";
  if (d % 1ms == 0ns) return std::to_string(d / 1ms) + "ms";
  return show_number(std::chrono::duration<double>(d).count()) + "s";
}

std::string show_number(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

}  // namespace mlsidecar::cli
