// What one response event says about a generation, read from its JSON as the scanner reports it.
// One reader understands every shape the tap supports, by the paths of the fields:
//   OpenAI chat and completions (vLLM, SGLang, llama.cpp, TGI's Messages API, Ollama's /v1):
//     choices[i].delta.{content,reasoning_content,reasoning,tool_calls}, choices[i].text,
//     choices[i].message.{content,tool_calls} (non-streamed), choices[i].finish_reason,
//     usage.{prompt_tokens,completion_tokens}, model, error / object:"error"
//   TGI's native /generate_stream: token.{text,special}, details.{generated_tokens,finish_reason}
//   Ollama /api/generate and /api/chat: response, message.{content,thinking,tool_calls}, done,
//     done_reason, eval_count, prompt_eval_count; /api/embed: prompt_eval_count
// Fields it does not know are ignored; an event with none of them is "unrecognized".
//
// Thread safety: none; belongs to one stream.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/llm/json_stream_parser.h"

namespace mlsidecar::llm {

// A short string copied out of an event (model name, finish reason), truncated to its capacity.
template <std::size_t N>
class ShortString {
 public:
  void assign(std::string_view s) {
    len_ = s.size() < N ? s.size() : N;
    for (std::size_t i = 0; i < len_; ++i) buf_[i] = s[i];
  }
  void clear() { len_ = 0; }
  bool empty() const { return len_ == 0; }
  std::string_view view() const { return {buf_.data(), len_}; }

 private:
  std::array<char, N> buf_{};
  std::size_t len_ = 0;
};

class ResponseEvent : public JsonVisitor {
 public:
  void reset();
  void on_value(const JsonPath& path, const JsonValue& value) override;

  // Number of pieces of generated content in this event: one per choice that carries some, one for
  // an Ollama or TGI content field. TGI special tokens are tokens without content.
  std::uint32_t content_pieces() const;
  // Generated tokens this event stands for when counting events: TGI sends exactly one per event.
  std::uint32_t counted_tokens() const;

  bool root_object = false;
  bool recognized = false;
  bool error = false;
  bool done = false;  // Ollama's final object
  std::optional<std::uint64_t> prompt_tokens;
  std::optional<std::uint64_t> output_tokens;
  ShortString<32> finish_reason;
  ShortString<128> model;

 private:
  void on_choice_value(const JsonPath& path, const JsonValue& value);

  std::uint64_t choice_mask_ = 0;  // bit i: choice at position i (63 for the rest) has content
  bool content_ = false;
  bool tgi_token_ = false;
  bool tgi_text_ = false;
  bool tgi_special_ = false;
};

}  // namespace mlsidecar::llm
