#include "sidecar/wire.h"

#include <boost/beast/http/status.hpp>
#include <charconv>

namespace mlsidecar::wire {

namespace http = boost::beast::http;

namespace {

void append_version(std::string& out, unsigned version) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

void append_fields(std::string& out, const http::fields& fields) {
  for (const auto& f : fields) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

void append_request_head(std::string& out, const http::request_header<>& head) {
  out += head.method_string();
  out += ' ';
  out += head.target();
  out += ' ';
  append_version(out, head.version());
  out += "\r\n";
  append_fields(out, head);
}

void append_response_head(std::string& out, const http::response_header<>& head) {
  append_version(out, head.version());
  // Three digits, as received: the proxy refuses a status outside 100-599 (read_response_head).
  const unsigned status = head.result_int() % 1000;
  const char code[] = {' ', static_cast<char>('0' + status / 100),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out.append(code, sizeof code);
  std::string_view reason = head.reason();
  if (reason.empty()) reason = http::obsolete_reason(head.result());
  out += reason;
  out += "\r\n";
  append_fields(out, head);
}

void absorb_small_body(std::string& head_storage, std::string_view& head, const char* data,
                       std::size_t& size, bool chunked, bool last) {
  if (head.empty() || chunked || !last || size == 0 || size > kAbsorbBytes) return;
  head_storage.append(data, size);
  head = head_storage;
  size = 0;
}

Frame::Frame(std::string_view head, const char* data, std::size_t size, bool chunked, bool last) {
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kCrlfLast = "\r\n0\r\n\r\n";
  add(head.data(), head.size());
  if (!chunked) {
    add(data, size);
    return;
  }
  if (size == 0) {
    if (last) add(kCrlfLast.data() + 2, kCrlfLast.size() - 2);
    return;
  }
  auto end = std::to_chars(size_line_, size_line_ + sizeof size_line_ - 2, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  add(size_line_, static_cast<std::size_t>(end - size_line_));
  add(data, size);
  const std::string_view tail = last ? kCrlfLast : kCrlf;
  add(tail.data(), tail.size());
}

}  // namespace mlsidecar::wire
