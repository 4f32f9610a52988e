// The HTTP rules of a transparent proxy, applied to parsed heads: which fields are hop-by-hop,
// how framing is checked, how the request id travels, and the JSON error responses clients see.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <string>
#include <string_view>

#include "sidecar/request_failure.h"

namespace mlsidecar {

namespace http = boost::beast::http;

// Why a request head cannot be forwarded as it is; empty when it can. RFC 9112 section 6.
std::string_view framing_problem(const http::request_header<>& head);
// Same for a response head from the model: such a response becomes a 502.
std::string_view framing_problem(const http::response_header<>& head);

// Removes the hop-by-hop fields (RFC 9110 section 7.6.1): Connection and every field it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade. Framing (Transfer-Encoding, Content-Length)
// is left to the caller, which re-frames the message.
void strip_hop_by_hop(http::fields& fields);

// The client's x-request-id (the first one, when it sent several: the others are dropped), or a
// new random one written into the head. Returns the value.
std::string_view ensure_request_id(http::fields& fields);

// Whether a method may be replayed on a fresh connection when a pooled one turned out closed.
bool is_idempotent(http::verb method);

// Whether a read or write failed because the peer closed or reset the connection (as opposed to
// sending something malformed).
bool is_connection_error(const boost::system::error_code& ec);

// Why reading a request head failed with `ec`: Failure::none when the client simply closed (or
// the connection was closed under it), so there is nothing to answer or count.
Failure head_failure(const boost::system::error_code& ec, bool timed_out);

// The JSON body of an error answer: {"error": message, "code": code} and a newline.
std::string json_error_body(std::string_view code, std::string_view message);

// A complete HTTP/1.1 response with that JSON body.
std::string json_error_response(unsigned status, std::string_view code, std::string_view message,
                                bool keep_alive, std::string_view request_id,
                                std::string_view extra_headers = {});

}  // namespace mlsidecar
