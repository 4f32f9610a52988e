// Payload readers: every format, request and response, well-formed and malformed.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "metrics/drift/payload.h"

using namespace mlsidecar::drift;
using mlsidecar::Route;
using Type = FeatureValue::Type;

namespace {

// "name=value" strings, in the order read, for compact assertions.
std::vector<std::string> flat(const std::vector<FeatureValue>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    switch (v.type) {
      case Type::number: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", v.number);
        out.push_back(v.name + "=" + buf);
        break;
      }
      case Type::text:
        out.push_back(v.name + "='" + v.text + "'");
        break;
      case Type::missing:
        out.push_back(v.name + "=?");
        break;
    }
  }
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("KServe V1 rows as lists use the profile's column names, else instances[i]") {
  std::vector<FeatureValue> out;
  const std::vector<std::string> cols{"age", "income"};
  FeatureNaming named{&cols, nullptr};
  ReadResult r =
      read_kserve_v1(R"({"instances": [[31, 5.5], [40, null]]})", Direction::input, named, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(r.rows == 2);
  CHECK(flat(out) == Strings{"age=31", "income=5.5", "age=40", "income=?"});
  out.clear();
  r = read_kserve_v1(R"({"instances": [[1, 2, 3]]})", Direction::input, named, out);
  CHECK(flat(out) == Strings{"age=1", "income=2", "instances[2]=3"});
}

TEST_CASE("KServe V1 object rows, scalar predictions, strings and booleans") {
  std::vector<FeatureValue> out;
  ReadResult r = read_kserve_v1(R"({"instances": [{"a": 1, "color": "red", "ok": true}]})",
                                Direction::input, {}, out);
  CHECK(r.rows == 1);
  CHECK(flat(out) == Strings{"a=1", "color='red'", "ok='true'"});
  out.clear();
  r = read_kserve_v1(R"({"predictions": [0.25, 0.75]})", Direction::output, {}, out);
  CHECK(r.rows == 2);
  CHECK(flat(out) == Strings{"predictions=0.25", "predictions=0.75"});
}

TEST_CASE("KServe V1 object rows: a list under a key is a vector, named as a V2 tensor's") {
  // A classifier's {"label": .., "probs": [..]} row: probs[0].. as a [batch, k] tensor `probs`
  // would give, in index order (probs[10] after probs[9]), keys in byte order around them.
  std::vector<FeatureValue> out;
  const std::string body =
      R"({"predictions": [{"probs": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],)"
      R"( "z": 1, "label": "cat", "empty": [], "nested": [[1], {"a": 2}, "s"]},)"
      R"( {"probs": [0.5], "label": "dog"}]})";
  ReadResult r = read_kserve_v1(body, Direction::output, {}, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(r.rows == 2);
  CHECK(flat(out) == Strings{"label='cat'", "nested[0]=?", "nested[1]=?", "nested[2]='s'",
                             "probs[0]=0.1", "probs[1]=0.2", "probs[2]=0.3", "probs[3]=0.4",
                             "probs[4]=0.5", "probs[5]=0.6", "probs[6]=0.7", "probs[7]=0.8",
                             "probs[8]=0.9", "probs[9]=1", "probs[10]=1.1", "z=1", "label='dog'",
                             "probs[0]=0.5"});
  // The profile's tensor_columns name the vector's columns, for V1 rows as for V2 tensors; TF
  // Serving's row format reads the same way.
  const std::map<std::string, std::vector<std::string>> tensors{{"probs", {"p_cat", "p_dog"}}};
  const FeatureNaming named{nullptr, &tensors};
  for (auto* read : {&read_kserve_v1, &read_tf_serving}) {
    out.clear();
    r = read(R"({"instances": [{"probs": [0.25, 0.75, 0], "id": 7}]})", Direction::input, named,
             out);
    CHECK(r.rows == 1);
    CHECK(flat(out) == Strings{"id=7", "p_cat=0.25", "p_dog=0.75", "probs[2]=0"});
  }
}

TEST_CASE("KServe V1 malformed bodies are reported, not thrown") {
  std::vector<FeatureValue> out;
  CHECK(read_kserve_v1("{\"instances\": [1, 2", Direction::input, {}, out).status ==
        ReadStatus::invalid_json);
  CHECK(read_kserve_v1("", Direction::input, {}, out).status == ReadStatus::invalid_json);
  CHECK(read_kserve_v1(R"({"inputs": [1]})", Direction::input, {}, out).status ==
        ReadStatus::unexpected_shape);
  CHECK(read_kserve_v1(R"({"instances": 3})", Direction::input, {}, out).status ==
        ReadStatus::unexpected_shape);
  CHECK(read_kserve_v1("[1, 2]", Direction::input, {}, out).status == ReadStatus::unexpected_shape);
  CHECK(out.empty());
}

TEST_CASE("Open Inference V2: 1-D, [batch,1] and [batch,k] tensors, nested data, BYTES") {
  std::vector<FeatureValue> out;
  const char* body = R"({"inputs": [
      {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, 2.5]},
      {"name": "y", "shape": [2, 1], "datatype": "FP32", "data": [[3], [4]]},
      {"name": "m", "shape": [2, 2], "datatype": "INT64", "data": [5, 6, 7, 8]},
      {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}]})";
  ReadResult r = read_open_inference_v2(body, Direction::input, {}, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(r.rows == 2);
  CHECK(flat(out) == Strings{"x=1.5", "x=2.5", "y=3", "y=4", "m[0]=5", "m[1]=6", "m[0]=7", "m[1]=8",
                             "c='a'", "c='b'"});
  // The profile can name the columns of a [batch, k] tensor.
  std::map<std::string, std::vector<std::string>> tensors{{"m", {"left", "right"}}};
  FeatureNaming named{nullptr, &tensors};
  out.clear();
  read_open_inference_v2(
      R"({"inputs": [{"name": "m", "shape": [1, 2], "datatype": "FP64", "data": [[1, 2]]}]})",
      Direction::input, named, out);
  CHECK(flat(out) == Strings{"left=1", "right=2"});
  // Outputs, and higher-rank tensors (images) left out.
  out.clear();
  r = read_open_inference_v2(
      R"({"model_name": "m", "outputs": [
          {"name": "p", "shape": [1], "datatype": "FP32", "data": [0.9]},
          {"name": "img", "shape": [1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]})",
      Direction::output, {}, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(flat(out) == Strings{"p=0.9"});
}

TEST_CASE("Open Inference V2 malformed tensors are reported") {
  std::vector<FeatureValue> out;
  auto status = [&](const char* body) {
    out.clear();
    return read_open_inference_v2(body, Direction::input, {}, out).status;
  };
  CHECK(status("not json") == ReadStatus::invalid_json);
  CHECK(status(R"({"instances": []})") == ReadStatus::unexpected_shape);
  // data size disagrees with the shape
  CHECK(
      status(R"({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]})") ==
      ReadStatus::unexpected_shape);
  CHECK(status(R"({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}]})") ==
        ReadStatus::unexpected_shape);
  CHECK(status(R"({"inputs": [{"shape": [1], "data": [1]}]})") == ReadStatus::unexpected_shape);
  CHECK(status(R"({"inputs": [{"name": "x", "shape": [1], "data": [{"a": 1}]}]})") ==
        ReadStatus::unexpected_shape);
  // a good tensor before a bad one leaves nothing behind
  CHECK(status(R"({"inputs": [{"name": "a", "shape": [1], "data": [1]},
                               {"name": "b", "shape": [2], "data": [1]}]})") ==
        ReadStatus::unexpected_shape);
  CHECK(out.empty());
}

TEST_CASE("TF Serving row and columnar formats") {
  std::vector<FeatureValue> out;
  ReadResult r = read_tf_serving(R"({"signature_name": "s", "instances": [{"a": 1}, {"a": 2}]})",
                                 Direction::input, {}, out);
  CHECK(r.rows == 2);
  CHECK(flat(out) == Strings{"a=1", "a=2"});
  out.clear();
  r = read_tf_serving(R"({"inputs": {"a": [1, 2, 3], "b": [[4, 5], [6, 7], [8, 9]]}})",
                      Direction::input, {}, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(r.rows == 3);
  CHECK(flat(out) ==
        Strings{"a=1", "a=2", "a=3", "b[0]=4", "b[1]=5", "b[0]=6", "b[1]=7", "b[0]=8", "b[1]=9"});
  out.clear();
  r = read_tf_serving(R"({"outputs": [0.1, 0.2]})", Direction::output, {}, out);
  CHECK(flat(out) == Strings{"outputs=0.1", "outputs=0.2"});
  CHECK(read_tf_serving(R"({"foo": 1})", Direction::input, {}, out).status ==
        ReadStatus::unexpected_shape);
  CHECK(read_tf_serving("{", Direction::input, {}, out).status == ReadStatus::invalid_json);
}

TEST_CASE("OpenAI completions and chat: characters and usage tokens") {
  std::vector<FeatureValue> out;
  ReadResult r = read_openai(R"({"model": "m", "prompt": "héllo"})", Direction::input, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(flat(out) == Strings{"prompt_chars=5"});  // code points, not bytes
  out.clear();
  read_openai(R"({"messages": [{"role": "system", "content": "abc"},
                                {"role": "user", "content": [{"type": "text", "text": "de"}]}]})",
              Direction::input, out);
  CHECK(flat(out) == Strings{"prompt_chars=5"});
  out.clear();
  r = read_openai(R"({"choices": [{"message": {"role": "assistant", "content": "four"}}],
                      "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}})",
                  Direction::output, out);
  CHECK(flat(out) == Strings{"completion_chars=4", "prompt_tokens=7", "completion_tokens=2"});
  out.clear();
  r = read_openai(R"({"choices": [{"text": "xyz"}]})", Direction::output, out);
  CHECK(flat(out) == Strings{"completion_chars=3"});
}

TEST_CASE("OpenAI streamed responses are read chunk by chunk") {
  std::vector<FeatureValue> out;
  const char* sse =
      "data: {\"choices\": [{\"delta\": {\"content\": \"Hel\"}}]}\n\n"
      ": keep-alive\n\n"
      "data: {\"choices\": [{\"delta\": {\"content\": \"lo\"}}]}\n\n"
      "data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": 2}}\n\n"
      "data: [DONE]\n\n";
  ReadResult r = read_openai(sse, Direction::output, out);
  CHECK(r.status == ReadStatus::ok);
  CHECK(flat(out) == Strings{"completion_chars=5", "prompt_tokens=3", "completion_tokens=2"});
  out.clear();
  CHECK(read_openai("data: {broken\n\n", Direction::output, out).status ==
        ReadStatus::invalid_json);
  CHECK(read_openai(R"({"foo": 1})", Direction::output, out).status ==
        ReadStatus::unexpected_shape);
  CHECK(read_openai(R"({"model": "m"})", Direction::input, out).status ==
        ReadStatus::unexpected_shape);
  CHECK(out.empty());
}

TEST_CASE("the reader is picked by route unless a format is configured") {
  CHECK(format_for_route(PayloadFormat::automatic, Route::infer) ==
        PayloadFormat::open_inference_v2);
  CHECK(format_for_route(PayloadFormat::automatic, Route::generate) == PayloadFormat::openai);
  CHECK(format_for_route(PayloadFormat::automatic, Route::predict) == PayloadFormat::tf_serving);
  CHECK(format_for_route(PayloadFormat::kserve_v1, Route::infer) == PayloadFormat::kserve_v1);
  std::vector<FeatureValue> out;
  CHECK(read_payload(PayloadFormat::automatic, Route::health, "{}", Direction::input, {}, out)
            .status == ReadStatus::unsupported_route);
  PayloadFormat f{};
  CHECK(parse_payload_format("v2", f));
  CHECK(f == PayloadFormat::open_inference_v2);
  CHECK_FALSE(parse_payload_format("xml", f));
}
