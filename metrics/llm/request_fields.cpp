#include "metrics/llm/request_fields.h"

namespace mlsidecar::llm {

void RequestFields::read(std::string_view body, JsonStreamParser& scanner) {
  model.clear();
  stream.reset();
  include_usage = false;
  scanner.reset(this);
  scanner.feed(body);
  scanner.finish();
  scanner.reset(nullptr);
}

void RequestFields::on_value(const JsonPath& path, const JsonValue& v) {
  if (path.depth() == 1) {
    if (path.key(0, "model") && v.kind == JsonKind::string)
      model.assign(v.text);
    else if (path.key(0, "stream") && v.kind == JsonKind::boolean)
      stream = v.boolean;
  } else if (path.depth() == 2 && path.key(0, "stream_options") && path.key(1, "include_usage") &&
             v.kind == JsonKind::boolean) {
    include_usage = v.boolean;
  }
}

}  // namespace mlsidecar::llm
