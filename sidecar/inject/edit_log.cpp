// Recording and undoing edits. See edit_log.h.
#include "sidecar/inject/edit_log.h"

namespace mlsidecar::inject {

bool EditLog::recorded(const std::string& path) const {
  for (const auto& e : entries_) {
    const std::string& p = e["path"].get_ref<const std::string&>();
    if (path == p ||
        (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/')) {
      return true;
    }
  }
  return false;
}

void EditLog::set(Json& root, const Json::json_pointer& pointer, Json value) {
  const std::string path = pointer.to_string();
  if (!recorded(path)) {
    // Find the shortest prefix of the path that does not exist yet.
    Json::json_pointer prefix;
    Json::json_pointer missing;
    bool found_missing = false;
    std::vector<std::string> tokens;
    for (Json::json_pointer p = pointer; !p.empty(); p = p.parent_pointer()) {
      tokens.insert(tokens.begin(), p.back());
    }
    for (const auto& token : tokens) {
      prefix /= token;
      if (!root.contains(prefix)) {
        missing = prefix;
        found_missing = true;
        break;
      }
    }
    if (found_missing) {
      if (!recorded(missing.to_string())) {
        entries_.push_back(Json{{"path", missing.to_string()}, {"absent", true}});
      }
    } else {
      entries_.push_back(Json{{"path", path}, {"value", root.at(pointer)}});
    }
  }
  root[pointer] = std::move(value);
}

void EditLog::undo(Json& root, const Json& entries) {
  if (!entries.is_array()) return;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (!it->is_object() || !it->contains("path") || !(*it)["path"].is_string()) continue;
    const Json::json_pointer pointer((*it)["path"].get<std::string>());
    if (pointer.empty()) continue;
    if (it->value("absent", false)) {
      const Json::json_pointer parent = pointer.parent_pointer();
      if (root.contains(parent) && root.at(parent).is_object())
        root.at(parent).erase(pointer.back());
    } else if (it->contains("value")) {
      const Json::json_pointer parent = pointer.parent_pointer();
      if (root.contains(parent)) root[pointer] = (*it)["value"];
    }
  }
}

}  // namespace mlsidecar::inject
