// Drives the official `openai` npm client for mlsidecar's end-to-end LLM tests.
//
//   node openai_client.mjs '<json options>'
//
// options: baseURL (e.g. http://127.0.0.1:PORT/v1), model, messages | prompt (text completions),
// endpoint ("chat" | "completions", default chat), stream (bool), includeUsage (bool),
// maxTokens, abortAfter (stream: abort after this many content chunks).
//
// Prints one JSON object per line on stdout:
//   {"event": "chunk", "t": <ms since the request was sent>, "content": "...", "finish_reason": ..,
//    "usage": ..}                          for every streamed chunk, as it arrives;
//   {"event": "response", "t": .., "body": <the whole completion>}   without streaming;
//   {"event": "aborted", "t": ..}        after abortAfter content chunks;
//   {"event": "done", "t": ..}           at the end of a stream.
// Exits 1 with the error on stderr when the client throws.
import OpenAI from "openai";

const opts = JSON.parse(process.argv[2] ?? "{}");
const client = new OpenAI({ baseURL: opts.baseURL, apiKey: "e2e-test", maxRetries: 0, timeout: 60000 });
const t0 = performance.now();
const ms = () => Math.round((performance.now() - t0) * 1000) / 1000;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const params = { model: opts.model ?? "demo", stream: !!opts.stream };
if (opts.maxTokens !== undefined) params.max_tokens = opts.maxTokens;
if (opts.stream && opts.includeUsage) params.stream_options = { include_usage: true };
const chat = (opts.endpoint ?? "chat") === "chat";
if (chat) params.messages = opts.messages;
else params.prompt = opts.prompt;
const api = chat ? client.chat.completions : client.completions;

try {
  if (!opts.stream) {
    const body = await api.create(params);
    out({ event: "response", t: ms(), body });
  } else {
    const stream = await api.create(params);
    let contentChunks = 0;
    for await (const chunk of stream) {
      const choice = chunk.choices?.[0];
      const content = chat ? choice?.delta?.content : choice?.text;
      out({ event: "chunk", t: ms(), content: content ?? null,
            finish_reason: choice?.finish_reason ?? null, usage: chunk.usage ?? null });
      if (content) contentChunks += 1;
      if (opts.abortAfter && contentChunks >= opts.abortAfter) {
        stream.controller.abort();
        out({ event: "aborted", t: ms() });
        break;
      }
    }
    out({ event: "done", t: ms() });
  }
} catch (err) {
  process.stderr.write(`openai client: ${err?.stack ?? err}\n`);
  process.exit(1);
}
