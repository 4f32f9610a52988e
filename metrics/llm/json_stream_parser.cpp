#include "metrics/llm/json_stream_parser.h"

#include <charconv>
#include <cstring>

namespace mlsidecar::llm {
namespace {

// Number grammar states: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
enum NumState : std::uint8_t { kSign = 1, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

std::optional<std::uint64_t> JsonValue::as_uint() const {
  if (kind != JsonKind::number || truncated || text.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

void JsonStreamParser::reset(JsonVisitor* visitor) {
  visitor_ = visitor;
  status_ = Status::empty;
  expect_ = Expect::value;
  lex_ = Lex::none;
  escape_ = 0;
  depth_ = 0;
  array_bits_ = 0;
}

void JsonStreamParser::report(const JsonValue& v) {
  if (visitor_ != nullptr && depth_ <= kTrackedDepth) {
    visitor_->on_value(JsonPath(steps_.data(), depth_), v);
  }
}

JsonStreamParser::Status JsonStreamParser::feed(std::string_view in) {
  if (status_ == Status::syntax_error || status_ == Status::too_deep) return status_;
  std::size_t i = 0;
  const std::size_t n = in.size();
  while (i < n) {
    if (lex_ == Lex::string) {
      i = scan_string(in, i);
      if (status_ == Status::syntax_error) return status_;
      continue;
    }
    char c = in[i];
    if (lex_ == Lex::number) {
      if (is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        if (!number_step(c)) return status_;
        ++i;
        continue;
      }
      end_number();  // the byte that ended the number is handled below
      if (status_ == Status::syntax_error) return status_;
    } else if (lex_ == Lex::literal) {
      if (c != literal_[literal_pos_]) {
        fail(Status::syntax_error);
        return status_;
      }
      ++i;
      if (literal_[++literal_pos_] == '\0') {
        lex_ = Lex::none;
        JsonValue v;
        v.kind = literal_[0] == 'n' ? JsonKind::null : JsonKind::boolean;
        v.boolean = literal_[0] == 't';
        report(v);
        end_value();
      }
      continue;
    }
    ++i;
    if (is_ws(c)) continue;
    bool ok = true;
    switch (expect_) {
      case Expect::value_or_close:
        if (c == ']') {
          ok = close(c);
          break;
        }
        [[fallthrough]];
      case Expect::value:
        ok = begin_value(c);
        break;
      case Expect::key_or_close:
        if (c == '}') {
          ok = close(c);
          break;
        }
        [[fallthrough]];
      case Expect::key:
        ok = c == '"';
        if (ok) {
          lex_ = Lex::string;
          str_is_key_ = true;
          raw_len_ = cap_len_ = 0;
          cap_truncated_ = false;
        }
        break;
      case Expect::colon:
        ok = c == ':';
        expect_ = Expect::value;
        break;
      case Expect::comma_or_close:
        if (c == ',') {
          if (top_is_array()) {
            if (depth_ <= kTrackedDepth) ++steps_[depth_ - 1].index;
            expect_ = Expect::value;
          } else {
            expect_ = Expect::key;
          }
        } else {
          ok = close(c);
        }
        break;
      case Expect::done:
        ok = false;
        break;
    }
    if (!ok) {
      if (status_ != Status::too_deep) fail(Status::syntax_error);
      return status_;
    }
  }
  return status_;
}

JsonStreamParser::Status JsonStreamParser::finish() {
  if (lex_ == Lex::number && status_ == Status::in_progress) end_number();
  return status_;
}

std::size_t JsonStreamParser::scan_string(std::string_view in, std::size_t i) {
  const std::size_t n = in.size();
  while (i < n) {
    if (escape_ == 0) {
      // Fast path: a run of plain characters, captured in one copy.
      std::size_t j = i;
      while (j < n && in[j] != '"' && in[j] != '\\' && static_cast<unsigned char>(in[j]) >= 0x20)
        ++j;
      if (j > i) {
        std::size_t room = kCaptureBytes - cap_len_;
        std::size_t take = j - i < room ? j - i : room;
        std::memcpy(cap_.data() + cap_len_, in.data() + i, take);
        cap_len_ += take;
        cap_truncated_ |= take < j - i;
        raw_len_ += j - i;
        i = j;
        if (i == n) return n;
      }
    }
    char c = in[i];
    if (escape_ == 0) {
      if (c == '"') {
        end_string();
        return i + 1;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        fail(Status::syntax_error);
        return n;
      }
      if (c == '\\') {
        escape_ = 1;
      } else {
        capture(c);
      }
    } else if (escape_ == 1) {
      escape_ = 0;
      switch (c) {
        case '"':
        case '\\':
        case '/':
          capture(c);
          break;
        case 'b':
          capture('\b');
          break;
        case 'f':
          capture('\f');
          break;
        case 'n':
          capture('\n');
          break;
        case 'r':
          capture('\r');
          break;
        case 't':
          capture('\t');
          break;
        case 'u':
          escape_ = 2;
          break;
        default:
          fail(Status::syntax_error);
          return n;
      }
    } else {
      if (!is_hex(c)) {
        fail(Status::syntax_error);
        return n;
      }
      if (++escape_ == 6) {
        escape_ = 0;
        capture('?');  // code points are not decoded: no label we match needs them
      }
    }
    ++raw_len_;
    ++i;
  }
  return n;
}

void JsonStreamParser::end_string() {
  lex_ = Lex::none;
  if (str_is_key_) {
    if (depth_ <= kTrackedDepth) {
      JsonStep& s = steps_[depth_ - 1];
      s.key_overflow = cap_truncated_ || cap_len_ > s.key.size();
      s.key_len = static_cast<std::uint8_t>(s.key_overflow ? 0 : cap_len_);
      std::memcpy(s.key.data(), cap_.data(), s.key_len);
    }
    expect_ = Expect::colon;
    return;
  }
  JsonValue v;
  v.kind = JsonKind::string;
  v.text = std::string_view(cap_.data(), cap_len_);
  v.length = raw_len_;
  v.truncated = cap_truncated_;
  report(v);
  end_value();
}

bool JsonStreamParser::number_step(char c) {
  std::uint8_t next = 0;
  bool digit = is_digit(c);
  switch (num_state_) {
    case kSign:
      next = c == '0' ? kZero : digit ? kInt : 0;
      break;
    case kZero:
      next = c == '.' ? kDot : (c == 'e' || c == 'E') ? kExp : 0;
      break;
    case kInt:
      next = digit ? kInt : c == '.' ? kDot : (c == 'e' || c == 'E') ? kExp : 0;
      break;
    case kDot:
      next = digit ? kFrac : 0;
      break;
    case kFrac:
      next = digit ? kFrac : (c == 'e' || c == 'E') ? kExp : 0;
      break;
    case kExp:
      next = digit ? kExpDigits : (c == '+' || c == '-') ? kExpSign : 0;
      break;
    case kExpSign:
    case kExpDigits:
      next = digit ? kExpDigits : 0;
      break;
    default:
      break;
  }
  if (next == 0) {
    fail(Status::syntax_error);
    return false;
  }
  num_state_ = next;
  capture(c);
  ++raw_len_;
  return true;
}

void JsonStreamParser::end_number() {
  lex_ = Lex::none;
  if (num_state_ != kZero && num_state_ != kInt && num_state_ != kFrac &&
      num_state_ != kExpDigits) {
    fail(Status::syntax_error);
    return;
  }
  JsonValue v;
  v.kind = JsonKind::number;
  v.text = std::string_view(cap_.data(), cap_len_);
  v.length = raw_len_;
  v.truncated = cap_truncated_;
  report(v);
  end_value();
}

bool JsonStreamParser::begin_value(char c) {
  if (status_ == Status::empty) status_ = Status::in_progress;
  raw_len_ = cap_len_ = 0;
  cap_truncated_ = false;
  if (c == '{' || c == '[') {
    JsonValue v;
    v.kind = c == '{' ? JsonKind::object : JsonKind::array;
    report(v);
    if (depth_ == kMaxDepth) {
      fail(Status::too_deep);
      return false;
    }
    if (c == '[')
      array_bits_ |= std::uint64_t{1} << depth_;
    else
      array_bits_ &= ~(std::uint64_t{1} << depth_);
    if (depth_ < kTrackedDepth) {
      JsonStep& s = steps_[depth_];
      s.in_array = c == '[';
      s.index = 0;
      s.key_len = 0;
      s.key_overflow = false;
    }
    ++depth_;
    expect_ = c == '{' ? Expect::key_or_close : Expect::value_or_close;
    return true;
  }
  if (c == '"') {
    lex_ = Lex::string;
    str_is_key_ = false;
    return true;
  }
  if (c == '-' || is_digit(c)) {
    lex_ = Lex::number;
    num_state_ = c == '-' ? kSign : c == '0' ? kZero : kInt;
    capture(c);
    raw_len_ = 1;
    return true;
  }
  literal_ = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : nullptr;
  if (literal_ == nullptr) return false;
  lex_ = Lex::literal;
  literal_pos_ = 1;
  return true;
}

bool JsonStreamParser::close(char c) {
  if (depth_ == 0 || (c != ']' && c != '}') || top_is_array() != (c == ']')) return false;
  --depth_;
  end_value();
  return true;
}

void JsonStreamParser::end_value() {
  if (depth_ == 0) {
    expect_ = Expect::done;
    status_ = Status::complete;
  } else {
    expect_ = Expect::comma_or_close;
  }
}

}  // namespace mlsidecar::llm
