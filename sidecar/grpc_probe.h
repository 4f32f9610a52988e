// The readiness of a model that serves only gRPC, asked the way kubelet's gRPC probe and Triton's
// clients ask: one unary call over a fresh HTTP/2 cleartext connection, either
// grpc.health.v1.Health/Check (ready when the status is SERVING) or the Open Inference Protocol's
// inference.GRPCInferenceService/ServerReady (ready when `ready` is true).
#pragma once

#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace mlsidecar {

enum class GrpcReadiness { health, v2 };

// The request message (5-byte prefix included) and the path of the question.
std::string grpc_readiness_request(GrpcReadiness kind, std::string_view service);
std::string_view grpc_readiness_path(GrpcReadiness kind);
// Whether an answer means ready: grpc-status 0 and the one message SERVING (health) or
// ready=true (v2). `body` is the response body, prefixes included.
bool grpc_readiness_answer(std::string_view grpc_status, std::string_view body);

// Asks once, within `timeout`; false on any failure.
boost::asio::awaitable<bool> probe_grpc_once(boost::asio::ip::tcp::endpoint endpoint,
                                             GrpcReadiness kind, std::string service,
                                             std::chrono::milliseconds timeout);

}  // namespace mlsidecar
