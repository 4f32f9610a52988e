#include "sidecar/http_rules.h"

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

bool has_field(const http::fields& f, http::field name) { return f.find(name) != f.end(); }

std::string_view framing_problem_common(const http::fields& f, bool chunked) {
  bool has_te = has_field(f, http::field::transfer_encoding);
  bool has_cl = has_field(f, http::field::content_length);
  if (has_te && has_cl) return "both Transfer-Encoding and Content-Length";
  if (f.count(http::field::content_length) > 1) return "more than one Content-Length";
  if (has_cl) {
    // Beast accepts a list of equal values ("6, 6"); what goes on is the field as received, which
    // the next hop may read differently, so only plain digits pass (RFC 9110 section 8.6 allows
    // rejecting the list).
    std::string_view value = f[http::field::content_length];
    if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
      return "a Content-Length that is not a plain number";
    }
  }
  if (has_te && !chunked) return "a Transfer-Encoding other than chunked last";
  if (has_te) {
    // Only "chunked" itself is accepted: other codings would have to be decoded to be re-framed.
    for (auto it = f.find(http::field::transfer_encoding); it != f.end() && it->name() == http::field::transfer_encoding; ++it) {
      for (auto const& coding : http::token_list{it->value()}) {
        if (!boost::beast::iequals(coding, "chunked")) return "a Transfer-Encoding other than chunked";
      }
    }
  }
  return {};
}

}  // namespace

std::string_view framing_problem(const http::request_header<>& head) {
  if (head.version() != 10 && head.version() != 11) return "an HTTP version other than 1.0 or 1.1";
  if (head.version() == 11 && head.count(http::field::host) != 1) return "not exactly one Host";
  if (head.version() == 10 && has_field(head, http::field::transfer_encoding)) {
    return "Transfer-Encoding in HTTP/1.0";
  }
  return framing_problem_common(head, http::token_list{head[http::field::transfer_encoding]}.exists("chunked"));
}

std::string_view framing_problem(const http::response_header<>& head) {
  if (head.version() != 10 && head.version() != 11) return "an HTTP version other than 1.0 or 1.1";
  return framing_problem_common(head, http::token_list{head[http::field::transfer_encoding]}.exists("chunked"));
}

void strip_hop_by_hop(http::fields& fields) {
  // Fields named by Connection are hop-by-hop too.
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection; ++it) {
    for (auto const& token : http::token_list{it->value()}) {
      if (!boost::beast::iequals(token, "close") && !boost::beast::iequals(token, "keep-alive")) {
        named.emplace_back(token);
      }
    }
  }
  for (const std::string& name : named) {
    if (!boost::beast::iequals(name, "transfer-encoding") && !boost::beast::iequals(name, "content-length")) {
      fields.erase(name);
    }
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::upgrade);
}

std::string_view ensure_request_id(http::fields& fields) {
  auto it = fields.find("x-request-id");
  const bool usable = it != fields.end() && !it->value().empty() && it->value().size() <= 200;
  if (usable && fields.count("x-request-id") == 1) return it->value();
  // The first usable id is kept; further copies are dropped, so that the model and the logs see
  // one id per request.
  std::string id = usable ? std::string(it->value()) : new_request_id();
  fields.erase("x-request-id");
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

std::string json_error_response(unsigned status, std::string_view code, std::string_view message,
                                bool keep_alive, std::string_view request_id,
                                std::string_view extra_headers) {
  std::string body = nlohmann::json{{"error", message}, {"code", code}}.dump();
  body += '\n';
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

}  // namespace mlsidecar
