// How a response body is framed into events, chosen from its Content-Type (and the route: only
// generation routes are tapped).
#pragma once

#include <cstdint>
#include <string_view>

#include "metrics/route.h"

namespace mlsidecar::llm {

enum class StreamFormat : std::uint8_t {
  none,    // not tapped
  sse,     // text/event-stream: OpenAI-compatible servers, TGI
  ndjson,  // application/x-ndjson: Ollama's /api/generate and /api/chat
  json,    // one JSON document: non-streamed completions, embeddings
};

std::string_view format_name(StreamFormat format);

// The media type decides, case-insensitively, parameters ignored: text/event-stream -> sse;
// application/x-ndjson, application/ndjson, application/jsonl, application/x-jsonlines -> ndjson;
// application/json and application/*+json -> json; anything else -> none.
StreamFormat format_for_content_type(std::string_view content_type);

// As above for Route::generate, none for every other route.
StreamFormat choose_format(std::string_view content_type, Route route);

}  // namespace mlsidecar::llm
