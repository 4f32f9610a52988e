// Frames a response body into events as its bytes pass, in pieces split anywhere, and hands each
// complete event, already read by ResponseEvent, to a sink. Holds no event: the data of the event
// being received goes straight into an incremental JSON scanner, so memory is a few hundred bytes
// whatever the event size; an event whose data exceeds `max_event_bytes` still gives up the stream.
//
//   sse     WHATWG server-sent events: lines end in LF, CRLF or CR; `:` comments; `data:` with or
//           without the space, several `data:` lines joined by LF; a blank line dispatches; other
//           fields are skipped; `data: [DONE]` is the OpenAI end marker; an event cut off by the
//           end of the body is dropped, as the client's parser drops it.
//   ndjson  one JSON object per line, blank lines skipped, the last line may lack its LF.
//   json    the whole body is one event.
// Anything else (data that is not a JSON object, bad JSON, nesting past 64 levels) makes the stream
// fail: the error is kept and later bytes are not looked at, so the relay is never affected.
//
// Thread safety: none; one per connection, used by its I/O thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "metrics/llm/json_stream_parser.h"
#include "metrics/llm/response_event.h"
#include "metrics/llm/stream_format.h"

namespace mlsidecar::llm {

// Why the tap gave up on a stream (label `reason` of mlsidecar_llm_tap_errors_total).
enum class TapError : std::uint8_t { none, malformed, too_large, too_deep, unrecognized };
inline constexpr std::size_t kTapErrorCount = 5;
std::string_view tap_error_name(TapError error);

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const ResponseEvent& event) = 0;
  virtual void on_done() = 0;  // `data: [DONE]`
};

class EventStream {
 public:
  explicit EventStream(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

  void reset(StreamFormat format);
  void feed(std::string_view bytes, EventSink& sink);
  // End of the body; `complete` is false when it was cut short (a partial event is then expected).
  void finish(bool complete, EventSink& sink);
  TapError error() const { return error_; }
  bool failed() const { return error_ != TapError::none; }
  void fail(TapError error) {
    if (error_ == TapError::none) error_ = error;
  }

 private:
  enum class Line : std::uint8_t { start, field, value_start, value, skip };

  void feed_sse(std::string_view in, EventSink& sink);
  void feed_ndjson(std::string_view in, EventSink& sink);
  void feed_data(std::string_view data);
  void begin_data_line();
  void end_line(char eol, EventSink& sink);
  void dispatch(EventSink& sink);
  void start_event();
  bool is_done_marker() const;

  const std::size_t max_event_bytes_;
  StreamFormat format_ = StreamFormat::none;
  TapError error_ = TapError::none;
  JsonStreamParser scanner_;
  ResponseEvent event_;
  // SSE line state
  Line line_ = Line::start;
  bool after_cr_ = false;    // a CR ended the last line: a following LF belongs to it
  bool data_field_ = false;  // the current line's field is `data`
  std::uint8_t field_len_ = 0;
  // current event
  std::size_t data_lines_ = 0;
  std::size_t data_len_ = 0;
  std::array<char, 8> head_{};  // first data bytes, to recognise [DONE]
};

}  // namespace mlsidecar::llm
