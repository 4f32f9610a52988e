#include "metrics/llm/response_event.h"

#include <bit>

namespace mlsidecar::llm {

void ResponseEvent::reset() {
  root_object = recognized = error = done = false;
  prompt_tokens.reset();
  output_tokens.reset();
  finish_reason.clear();
  model.clear();
  choice_mask_ = 0;
  content_ = tgi_token_ = tgi_text_ = tgi_special_ = false;
}

std::uint32_t ResponseEvent::content_pieces() const {
  return static_cast<std::uint32_t>(std::popcount(choice_mask_)) + (content_ ? 1 : 0) +
         (tgi_text_ && !tgi_special_ ? 1 : 0);
}

std::uint32_t ResponseEvent::counted_tokens() const { return tgi_token_ ? 1 : content_pieces(); }

void ResponseEvent::on_value(const JsonPath& path, const JsonValue& v) {
  const std::size_t d = path.depth();
  if (d == 0) {
    root_object = v.kind == JsonKind::object;
    return;
  }
  if (path.key(0, "choices")) {
    if (d == 1)
      recognized |= v.kind == JsonKind::array;
    else
      on_choice_value(path, v);
    return;
  }
  if (d == 1) {
    const JsonStep& k = path[0];
    if (k.is_key("model")) {
      if (v.kind == JsonKind::string) model.assign(v.text);
    } else if (k.is_key("response")) {  // Ollama /api/generate
      recognized |= v.kind == JsonKind::string;
      content_ |= v.is_nonempty_string();
    } else if (k.is_key("done")) {
      recognized |= v.kind == JsonKind::boolean;
      done = v.kind == JsonKind::boolean && v.boolean;
    } else if (k.is_key("done_reason")) {
      if (v.is_nonempty_string()) finish_reason.assign(v.text);
    } else if (k.is_key("eval_count")) {
      if ((output_tokens = v.as_uint())) recognized = true;
    } else if (k.is_key("prompt_eval_count")) {
      if ((prompt_tokens = v.as_uint())) recognized = true;
    } else if (k.is_key("error")) {
      if (v.kind != JsonKind::null) error = recognized = true;
    } else if (k.is_key("object")) {
      if (v.kind == JsonKind::string && v.text == "error") error = recognized = true;
    } else if (k.is_key("usage") || k.is_key("message") || k.is_key("details")) {
      recognized |= v.kind == JsonKind::object;
    } else if (k.is_key("token")) {  // TGI: one event per generated token
      tgi_token_ = v.kind == JsonKind::object;
      recognized |= tgi_token_;
    }
    return;
  }
  if (path.key(0, "usage")) {
    if (d != 2) return;
    if (path.key(1, "prompt_tokens"))
      prompt_tokens = v.as_uint();
    else if (path.key(1, "completion_tokens"))
      output_tokens = v.as_uint();
  } else if (path.key(0, "message")) {  // Ollama /api/chat
    if (d == 2 && (path.key(1, "content") || path.key(1, "thinking"))) {
      content_ |= v.is_nonempty_string();
    } else if (d >= 3 && path.key(1, "tool_calls") && v.kind != JsonKind::null) {
      content_ = true;
    }
  } else if (path.key(0, "token")) {
    if (d != 2) return;
    if (path.key(1, "text"))
      tgi_text_ = v.is_nonempty_string();
    else if (path.key(1, "special"))
      tgi_special_ = v.kind == JsonKind::boolean && v.boolean;
  } else if (path.key(0, "details")) {
    if (d != 2) return;
    if (path.key(1, "generated_tokens"))
      output_tokens = v.as_uint();
    else if (path.key(1, "finish_reason") && v.is_nonempty_string())
      finish_reason.assign(v.text);
  }
}

void ResponseEvent::on_choice_value(const JsonPath& path, const JsonValue& v) {
  const std::size_t d = path.depth();
  if (!path.in_array(1) || d < 3) return;
  const std::uint64_t bit = std::uint64_t{1} << (path[1].index < 63 ? path[1].index : 63);
  if (d == 3) {
    if (path.key(2, "finish_reason")) {
      if (v.is_nonempty_string()) finish_reason.assign(v.text);
    } else if (path.key(2, "text") && v.is_nonempty_string()) {  // completions
      choice_mask_ |= bit;
    }
    return;
  }
  if (!path.key(2, "delta") && !path.key(2, "message")) return;
  if (d == 4 &&
      (path.key(3, "content") || path.key(3, "reasoning_content") || path.key(3, "reasoning"))) {
    if (v.is_nonempty_string()) choice_mask_ |= bit;
  } else if (d >= 5 && path.key(3, "tool_calls") && v.is_nonempty_string()) {
    choice_mask_ |= bit;
  }
}

}  // namespace mlsidecar::llm
