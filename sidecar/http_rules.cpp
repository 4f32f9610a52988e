#include "sidecar/http_rules.h"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <nlohmann/json.hpp>
#include <random>

namespace mlsidecar {
namespace {

// Per-thread generator for request ids: cheap, no lock, seeded once from the OS.
std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 15];
    id[16 + i] = kHex[(b >> (i * 4)) & 15];
  }
  return id;
}

// What framing and routing need from a head, gathered in one pass over its fields: a lookup by
// name walks a tree with case-insensitive compares, and this runs twice per request.
struct FramingFields {
  int host = 0;
  int content_length = 0;
  int transfer_encoding = 0;
  std::string_view first_content_length;
  std::string_view first_transfer_encoding;
  bool only_chunked_codings = true;
};

FramingFields scan_framing(const http::fields& f) {
  FramingFields out;
  for (const auto& field : f) {
    switch (field.name()) {
      case http::field::host:
        ++out.host;
        break;
      case http::field::content_length:
        if (out.content_length++ == 0) out.first_content_length = field.value();
        break;
      case http::field::transfer_encoding:
        if (out.transfer_encoding++ == 0) out.first_transfer_encoding = field.value();
        // Only "chunked" itself is accepted: other codings would have to be decoded to be
        // re-framed.
        for (auto const& coding : http::token_list{field.value()}) {
          if (!boost::beast::iequals(coding, "chunked")) out.only_chunked_codings = false;
        }
        break;
      default:
        break;
    }
  }
  return out;
}

std::string_view framing_problem_common(const FramingFields& f) {
  const bool has_te = f.transfer_encoding > 0;
  const bool has_cl = f.content_length > 0;
  if (has_te && has_cl) return "both Transfer-Encoding and Content-Length";
  if (f.content_length > 1) return "more than one Content-Length";
  if (has_cl) {
    // Beast accepts a list of equal values ("6, 6"); what goes on is the field as received, which
    // the next hop may read differently, so only plain digits pass (RFC 9110 section 8.6 allows
    // rejecting the list).
    std::string_view value = f.first_content_length;
    if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
      return "a Content-Length that is not a plain number";
    }
  }
  if (has_te && !http::token_list{f.first_transfer_encoding}.exists("chunked")) {
    return "a Transfer-Encoding other than chunked last";
  }
  if (has_te && !f.only_chunked_codings) return "a Transfer-Encoding other than chunked";
  return {};
}

bool is_hop_by_hop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view framing_problem(const http::request_header<>& head) {
  if (head.version() != 10 && head.version() != 11) return "an HTTP version other than 1.0 or 1.1";
  const FramingFields f = scan_framing(head);
  if (head.version() == 11 && f.host != 1) return "not exactly one Host";
  if (head.version() == 10 && f.transfer_encoding > 0) return "Transfer-Encoding in HTTP/1.0";
  return framing_problem_common(f);
}

std::string_view framing_problem(const http::response_header<>& head) {
  if (head.version() != 10 && head.version() != 11) return "an HTTP version other than 1.0 or 1.1";
  return framing_problem_common(scan_framing(head));
}

void strip_hop_by_hop(http::fields& fields) {
  // Fields named by Connection are hop-by-hop too; "close" and "keep-alive" name none, and the
  // framing fields stay with the caller, which re-frames the message.
  std::vector<std::string_view> named;
  bool any = false;
  for (const auto& field : fields) {
    if (!is_hop_by_hop(field.name())) continue;
    any = true;
    if (field.name() != http::field::connection) continue;
    for (auto const& token : http::token_list{field.value()}) {
      if (!boost::beast::iequals(token, "close") && !boost::beast::iequals(token, "keep-alive") &&
          !boost::beast::iequals(token, "transfer-encoding") &&
          !boost::beast::iequals(token, "content-length")) {
        named.push_back(token);
      }
    }
  }
  if (!any) return;
  // The names point into Connection values, so they are matched before any field is erased, and
  // Connection itself goes last.
  for (auto it = fields.begin(); it != fields.end();) {
    const bool drop = it->name() != http::field::connection &&
                      (is_hop_by_hop(it->name()) ||
                       std::any_of(named.begin(), named.end(), [&](std::string_view n) {
                         return boost::beast::iequals(n, it->name_string());
                       }));
    it = drop ? fields.erase(it) : std::next(it);
  }
  fields.erase(http::field::connection);
}

std::string_view ensure_request_id(http::fields& fields) {
  // One pass: the id fields are unknown to Beast's field table, so they are matched by name.
  auto first = fields.end();
  int count = 0;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it->name() == http::field::unknown &&
        boost::beast::iequals(it->name_string(), "x-request-id")) {
      if (count++ == 0) first = it;
    }
  }
  const bool usable =
      first != fields.end() && !first->value().empty() && first->value().size() <= 200;
  if (usable && count == 1) return first->value();
  // The first usable id is kept; further copies are dropped, so that the model and the logs see
  // one id per request.
  std::string id = usable ? std::string(first->value()) : new_request_id();
  if (count > 0) fields.erase("x-request-id");
  fields.set("x-request-id", id);
  return fields.find("x-request-id")->value();
}

bool is_idempotent(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::trace:
      return true;
    default:
      return false;
  }
}

std::string json_error_body(std::string_view code, std::string_view message) {
  std::string body = nlohmann::json{{"error", message}, {"code", code}}.dump();
  body += '\n';
  return body;
}

std::string json_error_response(unsigned status, std::string_view code, std::string_view message,
                                bool keep_alive, std::string_view request_id,
                                std::string_view extra_headers) {
  const std::string body = json_error_body(code, message);
  std::string out;
  out.reserve(256 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(status));
  out += "\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close";
  if (!request_id.empty()) {
    out += "\r\nx-request-id: ";
    out += request_id;
  }
  out += "\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

bool is_connection_error(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  return ec == error::eof || ec == error::connection_reset || ec == error::broken_pipe ||
         ec == http::error::end_of_stream || ec == error::connection_aborted;
}

Failure head_failure(const boost::system::error_code& ec, bool timed_out) {
  if (ec == http::error::header_limit) return Failure::header_too_large;
  if (ec == http::error::body_limit) return Failure::body_too_large;  // by its Content-Length
  if (timed_out) return Failure::header_timeout;
  if (is_connection_error(ec) || ec == boost::asio::error::operation_aborted ||
      ec == boost::asio::error::bad_descriptor) {
    return Failure::none;
  }
  return Failure::bad_head;
}

}  // namespace mlsidecar
