#include "sidecar/status/status_page.h"

#include "metrics/status/escape.h"
#include "metrics/status/status_json.h"

namespace mlsidecar::status {

StatusPage::StatusPage(boost::asio::io_context& io, Collect collect, StatusPageSettings settings)
    : timer_(io), collect_(std::move(collect)), settings_(settings), ring_(settings.capacity) {}

void StatusPage::start() {
  running_ = true;
  take_snapshot_now();
  schedule();
}

void StatusPage::stop() {
  running_ = false;
  timer_.cancel();
}

void StatusPage::take_snapshot_now() {
  const auto unix_now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  ring_.push(take_snapshot(collect_(), std::chrono::steady_clock::now(), unix_now.count()));
}

void StatusPage::schedule() {
  timer_.expires_after(settings_.interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    take_snapshot_now();
    schedule();
  });
}

std::string StatusPage::status_json(nlohmann::json identity,
                                    const std::optional<std::string>& drift,
                                    const std::optional<std::string>& shadow) const {
  using nlohmann::json;
  json doc = std::move(identity);
  doc["ring"] = ring_json(ring_, std::chrono::duration<double>(settings_.interval).count());
  doc.update(status_drift(drift, settings_.thresholds));
  doc["shadow"] = shadow_json(ring_);
  doc["shadow_disagreements"] = shadow ? json::parse(*shadow, nullptr, false) : json(nullptr);
  if (doc["shadow_disagreements"].is_discarded()) doc["shadow_disagreements"] = nullptr;
  // <, > and & escaped as in the drift report: names from clients stay inert wherever it lands.
  return json_for_script(doc);
}

}  // namespace mlsidecar::status
