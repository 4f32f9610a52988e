#include "metrics/shadow/disagreement_log.h"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"

namespace mlsidecar::shadow {
namespace {

// Cut at `max` bytes without splitting a UTF-8 sequence (the JSON writer would reject half of
// one); a cut value ends in "...".
void cut(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  s += "...";
}

}  // namespace

void DisagreementLog::add(Disagreement d) {
  cut(d.primary, kMaxValueBytes);
  cut(d.shadow, kMaxValueBytes);
  cut(d.output, kMaxValueBytes);
  cut(d.request_id, kMaxRequestIdBytes);
  std::lock_guard lock(mutex_);
  ++total_;
  if (entries_.size() == kCapacity) entries_.pop_front();
  entries_.push_back(std::move(d));
}

std::uint64_t DisagreementLog::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::string DisagreementLog::json(const std::string& version) const {
  std::vector<Disagreement> entries;
  std::uint64_t total = 0;
  {
    std::lock_guard lock(mutex_);
    entries.assign(entries_.rbegin(), entries_.rend());
    total = total_;
  }
  using nlohmann::json;
  json recent = json::array();
  for (const Disagreement& d : entries) {
    recent.push_back({{"time", drift::rfc3339(d.at)},
                      {"request_id", d.request_id},
                      {"route", route_name(d.route)},
                      {"output", d.output.empty() ? json(nullptr) : json(d.output)},
                      {"kind", d.kind},
                      {"row", d.row},
                      {"primary", d.primary},
                      {"shadow", d.shadow}});
  }
  const json doc = {{"version", version},
                    {"disagreements_total", total},
                    {"capacity", kCapacity},
                    {"recent", std::move(recent)}};
  // Values come from models and clients: any bytes that are not UTF-8 are replaced, not thrown.
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlsidecar::shadow
