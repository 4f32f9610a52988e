// Drives a GenerationTap over a body cut at given offsets and keeps an owned copy of the summary.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "metrics/llm/generation_tap.h"

namespace llm_test {

using Clock = std::chrono::steady_clock;
using mlsidecar::llm::GenerationSummary;
using mlsidecar::llm::GenerationTap;
using mlsidecar::llm::StreamEnd;
using mlsidecar::llm::StreamFormat;
using mlsidecar::llm::TapError;
using mlsidecar::llm::TokenSource;

struct Result {
  bool tapped = false;
  TapError error = TapError::none;
  StreamEnd end = StreamEnd::complete;
  std::string model;
  std::string finish_reason;
  std::optional<double> ttft, tpot;
  std::uint64_t prompt_tokens = 0, output_tokens = 0;
  TokenSource prompt_source = TokenSource::none, output_source = TokenSource::none;
  bool done_marker = false;

  bool operator==(const Result&) const = default;
};

inline Result owned(const GenerationSummary& s) {
  return {s.tapped,
          s.error,
          s.end,
          std::string(s.model),
          std::string(s.finish_reason),
          s.ttft_seconds,
          s.tpot_seconds,
          s.prompt_tokens,
          s.output_tokens,
          s.prompt_source,
          s.output_source,
          s.done_marker};
}

inline Clock::time_point at(double seconds) {
  return Clock::time_point{} +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Feeds `body` cut at `cuts` (ascending offsets), every piece at time 1 s, request at 0 s.
inline Result run(GenerationTap& tap, StreamFormat format, const std::string& body,
                  std::vector<std::size_t> cuts, StreamEnd how = StreamEnd::complete,
                  const std::string& request = "") {
  tap.begin(at(0), request, format);
  std::size_t from = 0;
  cuts.push_back(body.size());
  for (std::size_t cut : cuts) {
    tap.on_body(std::string_view(body).substr(from, cut - from), at(1));
    from = cut;
  }
  return owned(tap.finish(how, at(2)));
}

// Feeds `events` one by one, event i at times[i].
inline Result run_timed(GenerationTap& tap, StreamFormat format,
                        const std::vector<std::string>& events, const std::vector<double>& times,
                        StreamEnd how = StreamEnd::complete, const std::string& request = "") {
  tap.begin(at(0), request, format);
  for (std::size_t i = 0; i < events.size(); ++i) tap.on_body(events[i], at(times.at(i)));
  return owned(tap.finish(how, at(100)));
}

// Splits a body after each occurrence of `sep` (the separator stays with its event).
inline std::vector<std::string> split_after(const std::string& body, const std::string& sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from < body.size()) {
    std::size_t end = body.find(sep, from);
    end = end == std::string::npos ? body.size() : end + sep.size();
    out.push_back(body.substr(from, end - from));
    from = end;
  }
  return out;
}

}  // namespace llm_test
