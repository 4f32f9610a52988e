// An incremental, allocation-free JSON scanner: bytes go in as they arrive, in pieces of any size,
// and each value is reported to a visitor with the path of keys and array positions that leads to
// it. Nothing of the document is kept beyond the keys on the current path (first kTrackedDepth
// levels) and a short prefix of the current string or number, so memory is constant whatever the
// size of the document. It checks the JSON grammar (RFC 8259) except UTF-8 validity and surrogate
// pairing, which the taps do not need.
//
// Example: feeding `{"usage":{"completion_tokens":7}}` in any split reports, in order,
//   path []                         object
//   path ["usage"]                  object
//   path ["usage","completion_tokens"] number "7"
//
// Thread safety: none; one scanner per stream, used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mlsidecar::llm {

enum class JsonKind : std::uint8_t { object, array, string, number, boolean, null };

// One value as reported: containers when they open, scalars when they end.
struct JsonValue {
  JsonKind kind = JsonKind::null;
  std::string_view text;   // string (escapes decoded) or number text; at most kCaptureBytes
  std::size_t length = 0;  // string: length as written between the quotes; number: digits
  bool truncated = false;  // `text` is only a prefix
  bool boolean = false;

  // The value of a non-negative integer number, if it is one and fits.
  std::optional<std::uint64_t> as_uint() const;
  bool is_nonempty_string() const { return kind == JsonKind::string && length > 0; }
};

// One step of a path: an object member (key) or an array element (index).
struct JsonStep {
  bool in_array = false;
  bool key_overflow = false;  // key longer than the buffer: matches nothing
  std::uint8_t key_len = 0;
  std::uint32_t index = 0;
  std::array<char, 24> key{};

  bool is_key(std::string_view k) const {
    return !in_array && !key_overflow && std::string_view(key.data(), key_len) == k;
  }
};

class JsonPath {
 public:
  JsonPath(const JsonStep* steps, std::size_t depth) : steps_(steps), depth_(depth) {}
  std::size_t depth() const { return depth_; }
  const JsonStep& operator[](std::size_t i) const { return steps_[i]; }
  bool key(std::size_t i, std::string_view k) const { return i < depth_ && steps_[i].is_key(k); }
  bool in_array(std::size_t i) const { return i < depth_ && steps_[i].in_array; }

 private:
  const JsonStep* steps_;
  std::size_t depth_;
};

class JsonVisitor {
 public:
  virtual ~JsonVisitor() = default;
  virtual void on_value(const JsonPath& path, const JsonValue& value) = 0;
};

class JsonStreamParser {
 public:
  static constexpr std::size_t kTrackedDepth = 8;  // deeper values are checked, not reported
  static constexpr std::size_t kMaxDepth = 64;     // deeper documents are refused
  static constexpr std::size_t kCaptureBytes = 128;

  enum class Status : std::uint8_t {
    empty,        // only whitespace so far
    in_progress,  // a valid prefix of a document
    complete,     // one whole value (trailing whitespace allowed)
    syntax_error,
    too_deep,
  };

  // Starts a new document; `visitor` (may be null) must outlive the scan.
  void reset(JsonVisitor* visitor);
  // Scans more bytes; returns the status after them. Errors are sticky until reset().
  Status feed(std::string_view bytes);
  // Declares the end of input (ends a trailing top-level number) and returns the final status:
  // complete, empty, in_progress (cut short) or an error.
  Status finish();
  Status status() const { return status_; }

 private:
  enum class Expect : std::uint8_t {
    value,
    value_or_close,
    key_or_close,
    key,
    colon,
    comma_or_close,
    done
  };
  enum class Lex : std::uint8_t { none, string, number, literal };

  std::size_t scan_string(std::string_view in, std::size_t i);
  bool number_step(char c);
  bool begin_value(char c);
  bool close(char c);
  void end_value();
  void end_string();
  void end_number();
  void report(const JsonValue& v);
  void fail(Status s) { status_ = s; }
  void capture(char c) {
    if (cap_len_ < kCaptureBytes)
      cap_[cap_len_++] = c;
    else
      cap_truncated_ = true;
  }
  bool top_is_array() const { return (array_bits_ >> (depth_ - 1)) & 1u; }

  JsonVisitor* visitor_ = nullptr;
  Status status_ = Status::empty;
  Expect expect_ = Expect::value;
  Lex lex_ = Lex::none;
  bool str_is_key_ = false;
  std::uint8_t escape_ = 0;  // 0 none, 1 after '\', 2..5 reading \u hex digits
  std::uint8_t num_state_ = 0;
  const char* literal_ = nullptr;
  std::uint8_t literal_pos_ = 0;
  std::size_t depth_ = 0;
  std::uint64_t array_bits_ = 0;  // bit d set: container at depth d is an array
  std::size_t raw_len_ = 0;
  std::size_t cap_len_ = 0;
  bool cap_truncated_ = false;
  std::array<char, kCaptureBytes> cap_{};
  std::array<JsonStep, kTrackedDepth> steps_{};
};

}  // namespace mlsidecar::llm
