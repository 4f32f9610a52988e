#include "metrics/llm/event_stream.h"

#include <cstring>

namespace mlsidecar::llm {
namespace {

constexpr std::string_view kData = "data";

// First LF or CR at or after `from`, else in.size(); memchr is vectorised, a byte loop is not.
std::size_t find_eol(std::string_view in, std::size_t from) {
  const char* begin = in.data() + from;
  std::size_t len = in.size() - from;
  const void* lf = std::memchr(begin, '\n', len);
  std::size_t end = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - begin) : len;
  const void* cr = std::memchr(begin, '\r', end);
  if (cr != nullptr) end = static_cast<std::size_t>(static_cast<const char*>(cr) - begin);
  return from + end;
}

}  // namespace

std::string_view tap_error_name(TapError error) {
  switch (error) {
    case TapError::malformed:
      return "malformed";
    case TapError::too_large:
      return "too_large";
    case TapError::too_deep:
      return "too_deep";
    case TapError::unrecognized:
      return "unrecognized";
    case TapError::none:
      break;
  }
  return "none";
}

void EventStream::reset(StreamFormat format) {
  format_ = format;
  error_ = TapError::none;
  line_ = Line::start;
  after_cr_ = false;
  start_event();
}

void EventStream::start_event() {
  scanner_.reset(&event_);
  event_.reset();
  data_lines_ = 0;
  data_len_ = 0;
}

void EventStream::feed(std::string_view bytes, EventSink& sink) {
  if (failed()) return;
  switch (format_) {
    case StreamFormat::sse:
      feed_sse(bytes, sink);
      break;
    case StreamFormat::ndjson:
      feed_ndjson(bytes, sink);
      break;
    case StreamFormat::json:
      feed_data(bytes);
      break;
    case StreamFormat::none:
      break;
  }
}

void EventStream::feed_data(std::string_view data) {
  for (std::size_t i = 0; i < data.size() && data_len_ + i < head_.size(); ++i) {
    head_[data_len_ + i] = data[i];
  }
  data_len_ += data.size();
  if (data_len_ > max_event_bytes_) {
    fail(TapError::too_large);
    return;
  }
  scanner_.feed(data);
}

bool EventStream::is_done_marker() const {
  if (data_len_ > head_.size()) return false;
  std::string_view s(head_.data(), data_len_);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s == "[DONE]";
}

void EventStream::dispatch(EventSink& sink) {
  if (format_ == StreamFormat::sse && is_done_marker()) {
    sink.on_done();
  } else {
    switch (scanner_.finish()) {
      case JsonStreamParser::Status::complete:
        if (event_.root_object)
          sink.on_event(event_);
        else
          fail(TapError::malformed);
        break;
      case JsonStreamParser::Status::empty:
        break;
      case JsonStreamParser::Status::too_deep:
        fail(TapError::too_deep);
        break;
      default:
        fail(TapError::malformed);
        break;
    }
  }
  start_event();
}

void EventStream::begin_data_line() {
  if (data_lines_++ > 0) feed_data("\n");
}

void EventStream::end_line(char eol, EventSink& sink) {
  // A blank line dispatches the event; a data line without a colon is an empty data line.
  if (line_ == Line::start) {
    if (data_lines_ > 0) dispatch(sink);
  } else if (line_ == Line::field && data_field_ && field_len_ == kData.size()) {
    begin_data_line();
  }
  line_ = Line::start;
  after_cr_ = eol == '\r';
}

void EventStream::feed_sse(std::string_view in, EventSink& sink) {
  std::size_t i = 0;
  while (i < in.size() && !failed()) {
    char c = in[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {
        ++i;
        continue;
      }
    }
    switch (line_) {
      case Line::start:
        if (c == ':') {
          line_ = Line::skip;
          ++i;
          continue;
        }
        if (c != '\n' && c != '\r') {
          line_ = Line::field;
          field_len_ = 0;
          data_field_ = true;
          continue;  // the byte is the field's first
        }
        break;
      case Line::field:
        if (c == ':') {
          line_ = data_field_ && field_len_ == kData.size() ? Line::value_start : Line::skip;
          ++i;
          continue;
        }
        if (c != '\n' && c != '\r') {
          data_field_ = data_field_ && field_len_ < kData.size() && c == kData[field_len_];
          if (field_len_ < 255) ++field_len_;
          ++i;
          continue;
        }
        break;
      case Line::value_start:
        line_ = Line::value;
        begin_data_line();
        if (c == ' ') {  // one optional space after the colon
          ++i;
          continue;
        }
        [[fallthrough]];
      case Line::value:
      case Line::skip: {
        std::size_t j = find_eol(in, i);
        if (line_ == Line::value) feed_data(in.substr(i, j - i));
        i = j;
        if (i == in.size()) continue;
        c = in[i];
        break;
      }
    }
    end_line(c, sink);  // `c` ends the line
    ++i;
  }
}

void EventStream::feed_ndjson(std::string_view in, EventSink& sink) {
  while (!in.empty() && !failed()) {
    const void* nl = std::memchr(in.data(), '\n', in.size());
    std::size_t n =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
    feed_data(in.substr(0, n));
    if (nl == nullptr || failed()) return;
    dispatch(sink);
    in.remove_prefix(n + 1);
  }
}

void EventStream::finish(bool complete, EventSink& sink) {
  if (failed()) return;
  if (format_ == StreamFormat::ndjson || format_ == StreamFormat::json) {
    if (complete || scanner_.finish() == JsonStreamParser::Status::complete) dispatch(sink);
  }
  start_event();
}

}  // namespace mlsidecar::llm
