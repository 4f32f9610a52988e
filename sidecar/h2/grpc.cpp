#include "sidecar/h2/grpc.h"

#include "metrics/grpc_metrics.h"

#include <algorithm>
#include <array>
#include <limits>

namespace mlsidecar::h2 {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view grpc_status_name(GrpcStatus status) {
  // One table of names, the metric label's (metrics/grpc_metrics.h).
  return metrics::grpc_code_name(static_cast<std::size_t>(status));
}

std::optional<GrpcStatus> parse_grpc_status(std::string_view value) {
  if (value.empty() || value.size() > 3) return std::nullopt;
  unsigned code = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    code = code * 10 + static_cast<unsigned>(c - '0');
  }
  if (code >= kGrpcStatusCount) return GrpcStatus::unknown;
  return static_cast<GrpcStatus>(code);
}

GrpcStatus grpc_status_from_http(int http_status) {
  switch (http_status) {
    case 400:
      return GrpcStatus::internal;
    case 401:
      return GrpcStatus::unauthenticated;
    case 403:
      return GrpcStatus::permission_denied;
    case 404:
      return GrpcStatus::unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus::unavailable;
    default:
      return GrpcStatus::unknown;
  }
}

std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  const std::string_view digits = value.substr(0, value.size() - 1);
  std::int64_t n = 0;  // at most 99,999,999
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  std::int64_t ns_per_unit = 0;
  switch (value.back()) {
    case 'H':
      ns_per_unit = 3'600'000'000'000;
      break;
    case 'M':
      ns_per_unit = 60'000'000'000;
      break;
    case 'S':
      ns_per_unit = 1'000'000'000;
      break;
    case 'm':
      ns_per_unit = 1'000'000;
      break;
    case 'u':
      ns_per_unit = 1'000;
      break;
    case 'n':
      ns_per_unit = 1;
      break;
    default:
      return std::nullopt;
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (n > kMax / ns_per_unit) return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds(n * ns_per_unit);
}

bool is_grpc(std::string_view content_type) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (!starts_with_nocase(content_type, kGrpc)) return false;
  return content_type.size() == kGrpc.size() || content_type[kGrpc.size()] == '+' ||
         content_type[kGrpc.size()] == ';';
}

std::string percent_encode_message(std::string_view message) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b <= 0x7E && b != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
  }
  return out;
}

GrpcMethod classify_grpc_path(std::string_view path) {
  GrpcMethod m;
  if (path.size() < 2 || path[0] != '/') return m;
  const std::size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos) return m;
  m.service = path.substr(1, slash - 1);
  m.method = path.substr(slash + 1);
  if (m.service == "inference.GRPCInferenceService") {
    m.known = true;
    if (m.method == "ModelInfer" || m.method == "ModelStreamInfer") {
      m.route = Route::infer;
    } else if (m.method == "ServerLive" || m.method == "ServerReady" || m.method == "ModelReady") {
      m.route = Route::health;
    }
  } else if (m.service == "grpc.health.v1.Health") {
    m.known = true;
    if (m.method == "Check" || m.method == "Watch") m.route = Route::health;
  }
  return m;
}

std::optional<GrpcMessageReader::Message> GrpcMessageReader::next(std::string_view& chunk) {
  while (!malformed_ && !chunk.empty()) {
    if (payload_left_ > 0) {
      const std::size_t skip =
          payload_left_ < chunk.size() ? static_cast<std::size_t>(payload_left_) : chunk.size();
      payload_left_ -= skip;
      chunk.remove_prefix(skip);
      continue;
    }
    const std::size_t take = std::min(sizeof prefix_ - prefix_have_, chunk.size());
    for (std::size_t i = 0; i < take; ++i) {
      prefix_[prefix_have_ + i] = static_cast<unsigned char>(chunk[i]);
    }
    prefix_have_ += take;
    chunk.remove_prefix(take);
    if (prefix_have_ < sizeof prefix_) return std::nullopt;
    prefix_have_ = 0;
    if (prefix_[0] > 1) {
      malformed_ = true;
      return std::nullopt;
    }
    Message m;
    m.compressed = prefix_[0] == 1;
    m.length = (std::uint32_t{prefix_[1]} << 24) | (std::uint32_t{prefix_[2]} << 16) |
               (std::uint32_t{prefix_[3]} << 8) | std::uint32_t{prefix_[4]};
    payload_left_ = m.length;
    ++messages_;
    return m;
  }
  return std::nullopt;
}

}  // namespace mlsidecar::h2
