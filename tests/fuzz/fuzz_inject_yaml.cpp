// Fuzz target: the injection core's YAML input (sidecar/inject/yaml_bridge.h) and inject/uninject
// (sidecar/inject/injector.h) on every document it yields, as `mlsidecar inject` runs them.
//
// Invariants: malformed YAML is refused with YamlError only; every document read survives
// emit_yaml -> parse_yaml_stream with the same value; inject and uninject never throw; a template
// just injected is not injected a second time.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sidecar/inject/injector.h"
#include "sidecar/inject/yaml_bridge.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::inject;

std::string show(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

[[noreturn]] void threw(const char* what, const std::exception& e) {
  std::fprintf(stderr, "%s threw: %s\n", what, e.what());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<YamlDocument> docs;
  try {
    docs = parse_yaml_stream(text);
  } catch (const YamlError&) {
    return 0;
  } catch (const std::exception& e) {
    threw("parse_yaml_stream", e);
  }
  const InjectionSettings settings;
  for (const YamlDocument& doc : docs) {
    // A document that is only `null` (`~`, `!tag`) reads back as no document: the reader drops
    // empty documents, and null is what an empty one reads as.
    if (doc.value.is_null()) continue;
    // Bytes that are not UTF-8 pass the reader and the writer unchanged, and yaml-cpp may then take
    // the output for UTF-16 (a leading 0xFE 0xFF): the round trip is only promised for UTF-8 text.
    try {
      (void)doc.value.dump();
    } catch (const Json::type_error&) {
      continue;
    }
    std::string emitted;
    std::vector<YamlDocument> back;
    try {
      emitted = emit_yaml(doc.value);
      back = parse_yaml_stream(emitted);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "emitted:\n%s\n", emitted.c_str());
      threw("emit_yaml/parse_yaml_stream round trip", e);
    }
    if (back.size() != 1 || back[0].value != doc.value) {
      std::fprintf(stderr,
                   "round trip changed the document\nread:    %s\nemitted:\n%s\nreread:  %s\n",
                   show(doc.value).c_str(), emitted.c_str(),
                   back.empty() ? "(no document)" : show(back[0].value).c_str());
      std::abort();
    }
    try {
      InjectionResult once = inject(doc.value, settings);
      if (once.report.outcome == Outcome::injected) {
        InjectionResult twice = inject(once.pod_template, settings);
        FUZZ_CHECK(twice.report.outcome != Outcome::injected);
        InjectionResult removed = uninject(once.pod_template);
        FUZZ_CHECK(removed.report.outcome == Outcome::uninjected);
      }
      (void)uninject(doc.value);
    } catch (const std::exception& e) {
      threw("inject/uninject", e);
    }
  }
  return 0;
}
