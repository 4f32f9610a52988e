// Fuzz target: one drift payload reader (metrics/drift/payload.h), chosen at compile time by
// MLSIDECAR_FUZZ_READER (kserve_v1, open_inference_v2, open_inference_v2_grpc, tf_serving,
// openai); one executable each. The gRPC one also runs v2_grpc_model, whose views must lie in
// the message.
// The body is read as a request (input) and as a response (output), with and without the column
// names a profile would give.
//
// Invariants: the reader never throws (it runs on the drift worker, where an exception would end
// the process); it does not amplify: each value and each row it reports comes from at least one
// byte of the body (so a small body cannot make the worker loop or count missing values for long);
// a body it cannot read leaves no values behind.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "metrics/drift/open_inference_v2_grpc.h"
#include "metrics/drift/payload.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::drift;

ReadResult read(std::string_view body, Direction direction, const FeatureNaming& naming,
                std::vector<FeatureValue>& out) {
#if defined(MLSIDECAR_FUZZ_READER_openai)
  (void)naming;
  return read_openai(body, direction, out);
#elif defined(MLSIDECAR_FUZZ_READER_kserve_v1)
  return read_kserve_v1(body, direction, naming, out);
#elif defined(MLSIDECAR_FUZZ_READER_open_inference_v2_grpc)
  return read_open_inference_v2_grpc(body, direction, naming, out);
#elif defined(MLSIDECAR_FUZZ_READER_open_inference_v2)
  return read_open_inference_v2(body, direction, naming, out);
#elif defined(MLSIDECAR_FUZZ_READER_tf_serving)
  return read_tf_serving(body, direction, naming, out);
#else
#error "define MLSIDECAR_FUZZ_READER_<reader>"
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  static const std::vector<std::string> columns = {"age", "income", ""};
  static const std::map<std::string, std::vector<std::string>> tensor_columns = {
      {"x", {"a", "b"}}, {"input-0", {"f0", "f1", "f2"}}};
  const FeatureNaming named{&columns, &tensor_columns};
#if defined(MLSIDECAR_FUZZ_READER_open_inference_v2_grpc)
  if (auto model = v2_grpc_model(body)) {
    for (std::string_view name : {model->first, model->second}) {
      FUZZ_CHECK(name.empty() || (name.data() >= body.data() &&
                                  name.data() + name.size() <= body.data() + body.size()));
    }
  }
#endif
  for (Direction direction : {Direction::input, Direction::output}) {
    for (const FeatureNaming& naming : {FeatureNaming{}, named}) {
      std::vector<FeatureValue> out;
      ReadResult r{};
      try {
        r = read(body, direction, naming, out);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "reader threw: %s\n", e.what());
        std::abort();
      }
      FUZZ_CHECK(out.size() <= body.size());
      FUZZ_CHECK(r.rows <= body.size());  // a row takes at least one byte too
      if (r.status != ReadStatus::ok) FUZZ_CHECK(out.empty());
      for (const FeatureValue& v : out) {
        if (v.type != FeatureValue::Type::text) FUZZ_CHECK(v.text.empty());
      }
    }
  }
  return 0;
}
