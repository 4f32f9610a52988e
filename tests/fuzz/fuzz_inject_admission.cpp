// Fuzz target: the webhook's AdmissionReview handling, mlsidecar::inject::review_admission
// (sidecar/inject/admission.h), on any request body.
//
// Invariants: it never throws (the webhook answers every body); it answers 200 or 400 with a JSON
// body; a 200 always allows the pod, names the request's uid, and its patch (if any) is base64 of
// a JSON array of operations.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sidecar/inject/admission.h"
#include "sidecar/inject/yaml_bridge.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::inject;

std::string base64_decode(const std::string& in, bool& ok) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0, value = 0;
  ok = in.size() % 4 == 0;
  for (char c : in) {
    if (c == '=') break;
    std::size_t v = kAlphabet.find(c);
    if (v == std::string::npos) {
      ok = false;
      return out;
    }
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  const InjectionSettings settings;
  AdmissionAnswer answer;
  try {
    answer = review_admission(body, settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "review_admission threw: %s\n", e.what());
    std::abort();
  }
  FUZZ_CHECK(answer.status == 200 || answer.status == 400);
  const Json doc = Json::parse(answer.body, nullptr, false);
  FUZZ_CHECK(doc.is_object());
  if (answer.status != 200) return 0;
  const Json& response = doc.at("response");
  FUZZ_CHECK(response.at("allowed") == true);
  FUZZ_CHECK(Json::parse(body, nullptr, false)["request"]["uid"] == response.at("uid"));
  if (response.contains("patch")) {
    FUZZ_CHECK(response.value("patchType", "") == "JSONPatch");
    bool ok = false;
    const std::string patch = base64_decode(response["patch"].get<std::string>(), ok);
    FUZZ_CHECK(ok);
    const Json ops = Json::parse(patch, nullptr, false);
    FUZZ_CHECK(ops.is_array() && !ops.empty());
  }
  return 0;
}
