// JsonPullReader: a strict, allocation-free pull scanner over a JSON text, for the fast payload
// readers (payload_scan.cpp). It accepts a subset of what nlohmann::json accepts, never more:
// RFC 8259 grammar with ASCII-only strings and no \u escapes. Whatever falls outside that subset,
// malformed or not, makes the call fail and the reader falls back to nlohmann's parser, which
// decides. Every method returns false on failure; after a failure the scanner must not be used.
//
// Example: on `{"a": [1, "x"]}`: begin_object(), next_key(k) -> k == "a", begin_array(),
// next_element() -> true, value(s) -> number 1, next_element() -> true, value(s) -> text "x",
// next_element() -> false (the `]` is consumed), next_key() -> false with done() == true.
//
// Thread safety: one instance per thread; it only reads the text it is given.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace mlsidecar::drift::detail {

class JsonPullReader {
 public:
  static constexpr int kMaxDepth = 64;

  // One scalar: what FeatureValue needs, the text as a view into the body (unescaped text only).
  struct Scalar {
    enum class Kind : std::uint8_t { number, text, boolean, null, composite } kind = Kind::null;
    double number = 0.0;
    bool boolean = false;
    std::string_view text;
  };

  explicit JsonPullReader(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  // True when only whitespace is left.
  bool at_end() {
    skip_ws();
    return p_ == end_;
  }

  bool begin_object() { return open('{'); }
  bool begin_array() { return open('['); }
  bool peek_is(char c) {
    skip_ws();
    return p_ != end_ && *p_ == c;
  }

  // Inside an object: reads the next key and its ':'; false at the closing '}' (then done()) or
  // on an error (then !ok()).
  bool next_key(std::string_view& key) {
    if (!enter_member('}')) return false;
    if (!string_raw(key, true)) return fail();
    return consume(':') || fail();
  }
  // Inside an array: true when another element follows; false at ']' (done()) or on an error.
  bool next_element() { return enter_member(']'); }

  // The container just closed normally (the last next_key/next_element returned false).
  bool ok() const { return ok_; }

  // Inside an array: reads the elements that are numbers, handing each to on_number(double), up
  // to the first element that is not one (left unread, for next_element() and value()) or to the
  // closing bracket (read: then `closed` is set, as next_element() would have returned false).
  // The usual tensor is a flat list of numbers; this skips the general per-element dispatch.
  template <typename OnNumber>
  bool numbers(OnNumber&& on_number, bool& closed) {
    closed = false;
    for (;;) {
      const char* const mark = p_;
      const bool mark_first = first_;
      if (!enter_member(']')) {
        closed = ok_;
        return ok_;
      }
      skip_ws();
      if (p_ == end_ || (*p_ != '-' && !is_digit(*p_))) {
        p_ = mark;  // only whitespace and a comma were read: the element is read again later
        first_ = mark_first;
        return true;
      }
      double x = 0.0;
      if (!number(x)) return false;
      on_number(x);
    }
  }

  // Reads a scalar; an array or object is skipped (validated) and reported as composite.
  bool value(Scalar& out, int depth) {
    skip_ws();
    if (p_ == end_) return fail();
    switch (*p_) {
      case '"':
        out.kind = Scalar::Kind::text;
        return string_raw(out.text, true) || fail();
      case 't':
        out.kind = Scalar::Kind::boolean;
        out.boolean = true;
        return literal("true");
      case 'f':
        out.kind = Scalar::Kind::boolean;
        out.boolean = false;
        return literal("false");
      case 'n':
        out.kind = Scalar::Kind::null;
        return literal("null");
      case '[':
      case '{':
        out.kind = Scalar::Kind::composite;
        return skip(depth);
      default:
        out.kind = Scalar::Kind::number;
        return number(out.number);
    }
  }

  // Skips one value of any kind, validating it.
  bool skip(int depth) {
    if (depth > kMaxDepth) return fail();
    skip_ws();
    if (p_ == end_) return fail();
    if (*p_ == '"') {
      std::string_view raw;
      return string_raw(raw, false) || fail();
    }
    if (*p_ == '{') {
      ++p_;
      first_ = true;
      std::string_view key;
      while (next_key(key)) {
        if (!skip(depth + 1)) return false;
      }
      return ok_;
    }
    if (*p_ == '[') {
      ++p_;
      first_ = true;
      while (next_element()) {
        if (!skip(depth + 1)) return false;
      }
      return ok_;
    }
    Scalar s;
    return value(s, depth);
  }

  // A non-negative integer written without sign, fraction or exponent, at most INT64_MAX.
  bool dimension(std::uint64_t& out) {
    skip_ws();
    const char* start = p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return fail();
    if (*p_ == '0' && p_ + 1 != end_ && is_digit(p_[1])) return fail();
    while (p_ != end_ && is_digit(*p_)) ++p_;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return fail();
    auto [ptr, ec] = std::from_chars(start, p_, out);
    return (ec == std::errc() && ptr == p_ && out <= static_cast<std::uint64_t>(INT64_MAX)) ||
           fail();
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  bool fail() {
    ok_ = false;
    return false;
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool consume(char c) {
    skip_ws();
    if (p_ == end_ || *p_ != c) return fail();
    ++p_;
    return true;
  }
  bool open(char bracket) {
    if (!consume(bracket)) return false;
    first_ = true;
    return true;
  }

  // Shared by next_key / next_element: the closing bracket, or a ',' between members.
  bool enter_member(char close) {
    skip_ws();
    if (p_ == end_) return fail();
    if (*p_ == close) {
      ++p_;
      first_ = false;
      return false;
    }
    if (!first_) {
      if (*p_ != ',') return fail();
      ++p_;
      skip_ws();
      if (p_ == end_ || *p_ == close) return fail();  // no trailing comma
    }
    first_ = false;
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return fail();
    }
    p_ += word.size();
    return true;
  }

  // A string of printable ASCII. With `plain_only`, any escape fails (the view must be the
  // decoded text); without, simple escapes are validated and kept raw.
  bool string_raw(std::string_view& out, bool plain_only) {
    skip_ws();
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;  // control byte (invalid) or UTF-8 (full parser)
      if (c == '\\') {
        if (plain_only || p_ + 1 == end_) return false;
        const char e = p_[1];
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
            e != 't') {
          return false;  // \u (full parser) or invalid
        }
        p_ += 2;
        continue;
      }
      ++p_;
    }
    return false;
  }

  // JSON number grammar. Integers convert as nlohmann converts them (to int64 when negative,
  // uint64 otherwise, then to the nearest double, so -0 is +0); other numbers are correctly
  // rounded, like strtod: a decimal whose digits fit 2^53 and whose power of ten is at most 22
  // either way is one exact multiply or divide of two exact doubles (Clinger's fast path; one
  // IEEE operation rounds correctly); the rest go through from_chars. Overflow and underflow
  // fail: the full parser decides those.
  bool number(double& out) {
    const char* p = p_;
    const char* const end = end_;
    const char* const start = p;
    const bool negative = p != end && *p == '-';
    if (negative) ++p;
    if (p == end || !is_digit(*p)) return fail();
    // Every mantissa digit; it wraps past 19 digits, when it is no longer used.
    std::uint64_t digits = 0;
    const char* const integer_start = p;
    if (*p == '0') {
      ++p;
    } else {
      while (p != end && is_digit(*p)) digits = digits * 10 + static_cast<unsigned>(*p++ - '0');
    }
    std::ptrdiff_t count = p - integer_start;
    std::ptrdiff_t exponent = 0;  // the power of ten that `digits` is to be scaled by
    bool integer = true;
    if (p != end && *p == '.') {
      integer = false;
      const char* const fraction_start = ++p;
      while (p != end && is_digit(*p)) digits = digits * 10 + static_cast<unsigned>(*p++ - '0');
      if (p == fraction_start) return fail();
      count += p - fraction_start;
      exponent = -(p - fraction_start);
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
      integer = false;
      ++p;
      bool minus = false;
      if (p != end && (*p == '+' || *p == '-')) minus = *p++ == '-';
      if (p == end || !is_digit(*p)) return fail();
      std::ptrdiff_t e = 0;
      while (p != end && is_digit(*p)) {
        if (e < 100000) e = e * 10 + (*p - '0');
        ++p;
      }
      exponent += minus ? -e : e;
    }
    p_ = p;
    if (integer) {
      // Up to 18 digits fit int64 either way; longer integers take from_chars' range checks.
      if (count <= 18) {
        out = negative ? static_cast<double>(-static_cast<std::int64_t>(digits))
                       : static_cast<double>(digits);
        return true;
      }
      if (negative) {
        std::int64_t i = 0;
        auto [ptr, ec] = std::from_chars(start, p, i);
        if (ec == std::errc() && ptr == p) {
          out = static_cast<double>(i);
          return true;
        }
      } else {
        std::uint64_t u = 0;
        auto [ptr, ec] = std::from_chars(start, p, u);
        if (ec == std::errc() && ptr == p) {
          out = static_cast<double>(u);
          return true;
        }
      }
    } else if (count <= 19 && digits <= (std::uint64_t{1} << 53) && exponent >= -22 &&
               exponent <= 22) {
      static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                          1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
      const double mantissa = static_cast<double>(digits);  // exact: at most 2^53
      const double value =
          exponent < 0 ? mantissa / kPow10[-exponent] : mantissa * kPow10[exponent];
      out = negative ? -value : value;
      return true;
    }
    auto [ptr, ec] = std::from_chars(start, p, out);
    return (ec == std::errc() && ptr == p) || fail();
  }

  const char* p_;
  const char* end_;
  bool first_ = true;  // no member read yet in the innermost container just entered
  bool ok_ = true;
};

}  // namespace mlsidecar::drift::detail
