// OpenAI-style completions and chat completions (also Ollama's generate/chat): prompt and
// completion lengths in characters (Unicode code points) and token counts from `usage`. A
// streamed body (text/event-stream "data: {...}" lines, or JSON Lines) is read chunk by chunk.
#include <nlohmann/json.hpp>

#include "metrics/drift/payload.h"

namespace mlsidecar::drift {
namespace {

using nlohmann::json;

double code_points(const std::string& s) {
  double n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// Characters of a message content: a string, or a list of parts with "text".
double content_chars(const json& content) {
  if (content.is_string()) return code_points(content.get_ref<const std::string&>());
  double n = 0;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object()) {
        auto t = part.find("text");
        if (t != part.end() && t->is_string()) n += code_points(t->get_ref<const std::string&>());
      } else if (part.is_string()) {
        n += code_points(part.get_ref<const std::string&>());
      }
    }
  }
  return n;
}

struct Totals {
  bool any = false;
  bool have_completion = false;
  double completion_chars = 0;
  bool have_prompt_tokens = false, have_completion_tokens = false;
  double prompt_tokens = 0, completion_tokens = 0;
};

// Accumulates one response document or stream chunk; false when it is no completion at all.
bool add_response(const json& doc, Totals& t) {
  if (!doc.is_object()) return false;
  bool known = false;
  if (auto choices = doc.find("choices"); choices != doc.end() && choices->is_array()) {
    known = true;
    for (const auto& c : *choices) {
      if (!c.is_object()) continue;
      for (const char* key : {"message", "delta"}) {
        auto m = c.find(key);
        if (m != c.end() && m->is_object() && m->contains("content")) {
          t.completion_chars += content_chars((*m)["content"]);
          t.have_completion = true;
        }
      }
      if (auto text = c.find("text"); text != c.end() && text->is_string()) {
        t.completion_chars += code_points(text->get_ref<const std::string&>());
        t.have_completion = true;
      }
    }
  }
  if (auto r = doc.find("response"); r != doc.end() && r->is_string()) {  // Ollama generate
    known = true;
    t.have_completion = true;
    t.completion_chars += code_points(r->get_ref<const std::string&>());
  }
  if (auto m = doc.find("message"); m != doc.end() && m->is_object() && m->contains("content")) {
    known = true;  // Ollama chat
    t.have_completion = true;
    t.completion_chars += content_chars((*m)["content"]);
  }
  auto take = [&](const json& obj, const char* key, bool& have, double& value) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_number()) {
      have = true;
      value = it->get<double>();
      known = true;
    }
  };
  if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) {
    take(*u, "prompt_tokens", t.have_prompt_tokens, t.prompt_tokens);
    take(*u, "completion_tokens", t.have_completion_tokens, t.completion_tokens);
  }
  take(doc, "prompt_eval_count", t.have_prompt_tokens, t.prompt_tokens);
  take(doc, "eval_count", t.have_completion_tokens, t.completion_tokens);
  t.any = t.any || known;
  return known;
}

ReadResult read_request(const json& doc, std::vector<FeatureValue>& out) {
  if (!doc.is_object()) return {ReadStatus::unexpected_shape, 0};
  double chars = 0;
  bool found = false;
  for (const char* key : {"prompt", "input"}) {
    auto p = doc.find(key);
    if (p == doc.end()) continue;
    found = true;
    chars += content_chars(*p);
  }
  if (auto msgs = doc.find("messages"); msgs != doc.end() && msgs->is_array()) {
    found = true;
    for (const auto& m : *msgs) {
      if (m.is_object() && m.contains("content")) chars += content_chars(m["content"]);
    }
  }
  if (!found) return {ReadStatus::unexpected_shape, 0};
  out.push_back({"prompt_chars", FeatureValue::Type::number, chars, {}});
  return {ReadStatus::ok, 1};
}

ReadResult emit_response(const Totals& t, std::vector<FeatureValue>& out) {
  if (!t.any) return {ReadStatus::unexpected_shape, 0};
  if (t.have_completion) {
    out.push_back({"completion_chars", FeatureValue::Type::number, t.completion_chars, {}});
  }
  if (t.have_prompt_tokens) {
    out.push_back({"prompt_tokens", FeatureValue::Type::number, t.prompt_tokens, {}});
  }
  if (t.have_completion_tokens) {
    out.push_back({"completion_tokens", FeatureValue::Type::number, t.completion_tokens, {}});
  }
  return {ReadStatus::ok, 1};
}

}  // namespace

ReadResult read_openai(std::string_view body, Direction direction, std::vector<FeatureValue>& out) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_discarded()) {
    if (direction == Direction::input) return read_request(doc, out);
    Totals t;
    add_response(doc, t);
    return emit_response(t, out);
  }
  if (direction == Direction::input) return {ReadStatus::invalid_json, 0};
  // A stream: one JSON chunk per line, optionally behind "data:".
  Totals t;
  bool any_line = false;
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    } else if (line.empty() || line.front() != '{') {
      continue;  // SSE comments, event names, blank separators
    }
    if (line.empty() || line == "[DONE]") continue;
    json chunk = json::parse(line, nullptr, false);
    if (chunk.is_discarded()) return {ReadStatus::invalid_json, 0};
    any_line = true;
    add_response(chunk, t);
  }
  if (!any_line) return {ReadStatus::invalid_json, 0};
  return emit_response(t, out);
}

}  // namespace mlsidecar::drift
