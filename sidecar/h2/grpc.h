// gRPC over HTTP/2 as the sidecar needs it: status codes and their label names, the
// HTTP-to-gRPC status mapping, grpc-timeout, the content-type test, the route of a method, and a
// reader of the 5-byte message prefixes in a byte stream. Pure string work, no allocation except
// percent_encode_message. Specs: gRPC's PROTOCOL-HTTP2.md and http-grpc-status-mapping.md.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "metrics/route.h"

namespace mlsidecar::h2 {

enum class GrpcStatus : std::uint8_t {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};
inline constexpr std::size_t kGrpcStatusCount = 17;

// "OK", "CANCELLED", ... "UNAUTHENTICATED": the `grpc_code` label, as go-grpc-prometheus has it.
std::string_view grpc_status_name(GrpcStatus status);
// The decimal `grpc-status` trailer value ("14"); nullopt for anything else. A code above 16
// is a valid status to relay but has no name: it reads as unknown.
std::optional<GrpcStatus> parse_grpc_status(std::string_view value);
// The gRPC status a client sees for an HTTP status without grpc-status (http-grpc-status-mapping):
// 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504
// UNAVAILABLE, anything else UNKNOWN.
GrpcStatus grpc_status_from_http(int http_status);

// `grpc-timeout`: 1 to 8 ASCII digits and a unit, H M S m u n. Saturates at
// nanoseconds::max() (8 digits of hours do not fit in 64-bit nanoseconds); nullopt if malformed.
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value);

// "application/grpc", alone or followed by "+proto", "+json", ";..." (case-insensitive).
bool is_grpc(std::string_view content_type);

// Percent-encodes a `grpc-message` value as the spec asks (bytes outside 0x20..0x7E and '%').
std::string percent_encode_message(std::string_view message);

// A gRPC call's place in the metrics: the route, and the service and method of
// "/package.Service/Method" for the grpc_service and grpc_method labels (views into the path).
// Client-chosen names are unbounded: `known` says whether the service is one the sidecar knows
// (the V2 inference service, gRPC health), so the owner can fold the rest into "other".
struct GrpcMethod {
  Route route = Route::other;
  std::string_view service;
  std::string_view method;
  bool known = false;
};
GrpcMethod classify_grpc_path(std::string_view path);

// Finds the 5-byte prefixes (compressed flag, 32-bit big-endian length) of the messages in a
// gRPC body however it is cut into chunks, without copying the payloads: for the size limit and,
// later, for the drift reader to know where a message starts.
//
//   GrpcMessageReader reader;
//   std::string_view chunk = ...;          // any piece of the body, in order
//   while (auto m = reader.next(chunk)) {  // advances `chunk`
//     if (m->length > limit) ...;
//   }
//
// Thread safety: none; one per stream direction.
class GrpcMessageReader {
 public:
  struct Message {
    bool compressed = false;
    std::uint32_t length = 0;
  };

  // Consumes `chunk` up to the end of the next complete prefix and returns it; nullopt when the
  // chunk ended first (the reader keeps its place) or the stream is malformed.
  std::optional<Message> next(std::string_view& chunk);
  // A flag byte other than 0 or 1: nothing after it can be framed.
  bool malformed() const { return malformed_; }
  // No message is cut short: a body that ends elsewhere is truncated.
  bool at_boundary() const { return prefix_have_ == 0 && payload_left_ == 0; }
  std::uint64_t messages() const { return messages_; }

 private:
  unsigned char prefix_[5] = {};
  std::size_t prefix_have_ = 0;
  std::uint64_t payload_left_ = 0;
  std::uint64_t messages_ = 0;
  bool malformed_ = false;
};

// Copies whole gRPC messages out of a body however it is cut into chunks, for readers that need a
// message in one piece (drift, the model's name in a ModelInferRequest): `want` is asked at each
// message start how many of its bytes to keep (0: none); a longer message is reported with
// `overflow` and its first bytes.
//
//   GrpcMessageCopier copier;
//   copier.feed(chunk, [&] { return sample() ? cap : 0; },
//               [&](std::string_view message, bool compressed, bool overflow) { ... });
//
// Thread safety: none; one per stream direction.
class GrpcMessageCopier {
 public:
  template <class Want, class Done>
  void feed(std::string_view chunk, Want&& want, Done&& done) {
    while (!chunk.empty() && !malformed_) {
      if (prefix_have_ < sizeof prefix_) {
        const std::size_t take = std::min(sizeof prefix_ - prefix_have_, chunk.size());
        for (std::size_t i = 0; i < take; ++i) {
          prefix_[prefix_have_ + i] = static_cast<unsigned char>(chunk[i]);
        }
        prefix_have_ += take;
        chunk.remove_prefix(take);
        if (prefix_have_ < sizeof prefix_) return;
        if (prefix_[0] > 1) {
          malformed_ = true;
          return;
        }
        left_ = (std::uint32_t{prefix_[1]} << 24) | (std::uint32_t{prefix_[2]} << 16) |
                (std::uint32_t{prefix_[3]} << 8) | std::uint32_t{prefix_[4]};
        cap_ = want();
        copying_ = cap_ > 0;
        overflow_ = false;
        message_.clear();
      }
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(left_, chunk.size()));
      if (copying_) {
        const std::size_t room = cap_ > message_.size() ? cap_ - message_.size() : 0;
        message_.append(chunk.substr(0, std::min(room, take)));
        overflow_ |= take > room;
      }
      left_ -= take;
      chunk.remove_prefix(take);
      if (left_ == 0) {
        if (copying_) done(std::string_view(message_), prefix_[0] == 1, overflow_);
        prefix_have_ = 0;
        copying_ = false;
      }
    }
  }
  bool malformed() const { return malformed_; }

 private:
  unsigned char prefix_[5] = {};
  std::size_t prefix_have_ = 0;
  std::uint64_t left_ = 0;
  std::size_t cap_ = 0;
  bool copying_ = false;
  bool overflow_ = false;
  bool malformed_ = false;
  std::string message_;
};

}  // namespace mlsidecar::h2
