// Response bodies written by hand from the documented wire formats of vLLM (OpenAI-compatible
// chat and completions), Hugging Face TGI (/generate_stream) and Ollama (/api/generate,
// /api/chat), with the numbers a reader can count in them.
#pragma once

#include <string>

namespace llm_test {

// vLLM /v1/chat/completions, stream_options.include_usage: role chunk, 5 content chunks, a finish
// chunk with an empty delta, the usage chunk (completion_tokens counts the EOS token too: 6),
// [DONE].
inline const std::string kVllmChatUsage =
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":"! \"Hi\"\n"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":" How"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":" \u00e9"},"logprobs":null,"finish_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1718000000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[],"usage":{"prompt_tokens":17,"total_tokens":23,"completion_tokens":6}})"
    "\n\n"
    "data: [DONE]\n\n";

// vLLM /v1/completions without usage, n=2: choice 0 sends 3 pieces, choice 1 sends 2, with SSE
// comments, an `event:` and an `id:` field, and one event whose JSON spans two `data:` lines.
inline const std::string kVllmCompletionsNoUsage =
    ": keep-alive\n\n"
    R"(data: {"id":"cmpl-9","object":"text_completion","created":1,"model":"facebook/opt-125m","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null})"
    "\n\n"
    "event: message\nid: 2\n"
    R"(data: {"id":"cmpl-9","object":"text_completion","created":1,"model":"facebook/opt-125m",)"
    "\n"
    R"(data: "choices":[{"index":1,"text":" Lyon","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null})"
    "\n\n"
    ": another comment\n"
    R"(data:{"id":"cmpl-9","object":"text_completion","created":1,"model":"facebook/opt-125m","choices":[{"index":0,"text":" is","logprobs":null,"finish_reason":null,"stop_reason":null},{"index":1,"text":" is","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"cmpl-9","object":"text_completion","created":1,"model":"facebook/opt-125m","choices":[{"index":0,"text":" big","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null})"
    "\n\n"
    R"(data: {"id":"cmpl-9","object":"text_completion","created":1,"model":"facebook/opt-125m","choices":[{"index":1,"text":"","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null})"
    "\n\n"
    "data: [DONE]\n\n";

// TGI /generate_stream: one event per token, `data:` without a space; the last token is the
// special EOS, and details carry generated_tokens (4) and the finish reason.
inline const std::string kTgiStream =
    R"(data:{"index":1,"token":{"id":29618,"text":"Deep","logprob":-0.52,"special":false},"generated_text":null,"details":null})"
    "\n\n"
    R"(data:{"index":2,"token":{"id":6509,"text":" learning","logprob":-0.03,"special":false},"generated_text":null,"details":null})"
    "\n\n"
    R"(data:{"index":3,"token":{"id":338,"text":" is","logprob":-0.21,"special":false},"generated_text":null,"details":null})"
    "\n\n"
    R"(data:{"index":4,"token":{"id":2,"text":"</s>","logprob":-0.01,"special":true},"generated_text":"Deep learning is","details":{"finish_reason":"eos_token","generated_tokens":4,"seed":null}})"
    "\n\n";

// Ollama /api/generate: 4 content lines, the final `done: true` line with the counts.
inline const std::string kOllamaGenerate =
    R"({"model":"llama3.2","created_at":"2024-08-04T08:52:19.385406455-07:00","response":"The","done":false})"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T08:52:19.485406455-07:00","response":" sky","done":false})"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T08:52:19.585406455-07:00","response":" is","done":false})"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T08:52:19.685406455-07:00","response":" blue","done":false})"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T08:52:19.785406455-07:00","response":"","done":true,"done_reason":"stop","context":[1,2,3],"total_duration":10706818083,"load_duration":6338219291,"prompt_eval_count":26,"prompt_eval_duration":130079000,"eval_count":4,"eval_duration":4232710000})"
    "\n";

// Ollama /api/chat: 3 content lines, the final line (no trailing newline) with done_reason
// "length".
inline const std::string kOllamaChat =
    R"({"model":"llama3.2","created_at":"2024-08-04T19:22:45.499127Z","message":{"role":"assistant","content":"Blue","images":null},"done":false})"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T19:22:45.599127Z","message":{"role":"assistant","content":" light"},"done":false})"
    "\n"
    "\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T19:22:45.699127Z","message":{"role":"assistant","content":" scatters"},"done":false})"
    "\r\n"
    R"({"model":"llama3.2","created_at":"2024-08-04T19:22:45.799127Z","message":{"role":"assistant","content":""},"done_reason":"length","done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":3,"eval_duration":4535599000})";

// Non-streamed bodies.
inline const std::string kChatJson =
    R"({"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"qwen","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3}})";
inline const std::string kEmbeddingsJson =
    R"({"object":"list","data":[{"object":"embedding","embedding":[0.0023,-0.0091,0.0152],"index":0}],"model":"bge","usage":{"prompt_tokens":8,"total_tokens":8}})";

// Every LF line end replaced by `eol` (CRLF, CR).
inline std::string with_line_ends(const std::string& s, const std::string& eol) {
  std::string out;
  for (char c : s) {
    if (c == '\n')
      out += eol;
    else
      out += c;
  }
  return out;
}

}  // namespace llm_test
