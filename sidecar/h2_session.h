// A client connection of the data port that opened with the HTTP/2 connection preface (cleartext,
// prior knowledge): its streams are gRPC calls, relayed to the model's gRPC port (--grpc-upstream)
// through the thread's GrpcUpstream, each through the request chain as an HTTP/1.1 request is:
// metrics, the autoscaling signals, admission, mlsidecar_grpc_requests_total. docs/http2.md.
#pragma once

#include <string_view>

#include "sidecar/net.h"

namespace mlsidecar {

class IoThread;

// Takes over `client`, whose first bytes (the preface, and what followed it) were already read.
void start_h2_session(IoThread& thread, net::Socket client, std::string_view first_bytes);

}  // namespace mlsidecar
