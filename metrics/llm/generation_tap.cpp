#include "metrics/llm/generation_tap.h"

namespace mlsidecar::llm {
namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

void GenerationTap::begin(Clock::time_point request_start, std::string_view request_body,
                          std::string_view content_type) {
  begin(request_start, request_body, format_for_content_type(content_type));
}

void GenerationTap::begin(Clock::time_point request_start, std::string_view request_body,
                          StreamFormat format) {
  format_ = format;
  active_ = format != StreamFormat::none;
  start_ = now_ = request_start;
  have_first_ = have_last_ = recognized_ = error_seen_ = done_marker_ = false;
  events_ = counted_ = 0;
  usage_prompt_.reset();
  usage_output_.reset();
  response_model_.clear();
  finish_reason_.clear();
  stream_.reset(format);
  if (active_) request_.read(request_body, request_scanner_);
}

void GenerationTap::on_body(std::string_view bytes, Clock::time_point now) {
  if (!active_ || stream_.failed()) return;
  now_ = now;
  stream_.feed(bytes, *this);
}

void GenerationTap::on_event(const ResponseEvent& e) {
  ++events_;
  if (!e.recognized) return;
  recognized_ = true;
  if (response_model_.empty() && !e.model.empty()) response_model_.assign(e.model.view());
  if (e.content_pieces() > 0 && !have_first_) {
    have_first_ = true;
    first_token_ = now_;
  }
  if (std::uint32_t n = e.counted_tokens(); n > 0) {
    counted_ += n;
    have_last_ = true;
    last_token_ = now_;
  }
  if (e.output_tokens) usage_output_ = e.output_tokens;
  if (e.prompt_tokens) usage_prompt_ = e.prompt_tokens;
  if (!e.finish_reason.empty())
    finish_reason_.assign(e.finish_reason.view());
  else if (e.done && finish_reason_.empty())
    finish_reason_.assign("stop");
  error_seen_ |= e.error;
}

GenerationSummary GenerationTap::finish(End how, Clock::time_point now) {
  GenerationSummary s;
  if (!active_) return s;
  active_ = false;
  now_ = now;
  stream_.finish(how == End::complete, *this);
  if (!stream_.failed() && events_ > 0 && !recognized_) stream_.fail(TapError::unrecognized);

  s.tapped = true;
  s.format = format_;
  s.end = how;
  s.error = stream_.error();
  s.model = request_.model.empty() ? response_model_.view() : request_.model.view();
  s.request_stream = request_.stream;
  if (s.error != TapError::none) return s;

  const bool streamed = format_ == StreamFormat::sse || format_ == StreamFormat::ndjson;
  s.done_marker = done_marker_;
  if (usage_output_) {
    s.output_tokens = *usage_output_;
    s.output_source = TokenSource::usage;
  } else if (streamed) {
    s.output_tokens = counted_;
    s.output_source = TokenSource::counted;
  }
  if (usage_prompt_) {
    s.prompt_tokens = *usage_prompt_;
    s.prompt_source = TokenSource::usage;
  }
  if (streamed && have_first_) {
    s.ttft_seconds = seconds(first_token_ - start_);
    if (have_last_ && s.output_tokens >= 2 && last_token_ >= first_token_) {
      s.tpot_seconds =
          seconds(last_token_ - first_token_) / static_cast<double>(s.output_tokens - 1);
    }
  }
  if (!finish_reason_.empty())
    s.finish_reason = finish_reason_.view();
  else if (error_seen_)
    s.finish_reason = "error";
  return s;
}

}  // namespace mlsidecar::llm
