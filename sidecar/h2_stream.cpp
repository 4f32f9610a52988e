// What the two kinds of HTTP/2 stream share. See h2_stream.h.
#include "sidecar/h2_stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>

#include "policies/admission_controller.h"
#include "sidecar/admission_wait.h"
#include "sidecar/io_thread.h"

namespace mlsidecar {

bool is_hop_by_hop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "host";
}

void OwnedFields::assign(std::span<const h2::HeaderField> fields) {
  std::size_t total = 0;
  for (const auto& f : fields) total += f.name.size() + f.value.size();
  storage_.clear();
  storage_.reserve(total);  // no reallocation below: the offsets stay valid
  views_.clear();
  views_.reserve(fields.size());
  std::vector<std::pair<std::size_t, std::size_t>> at;
  at.reserve(2 * fields.size());
  for (const auto& f : fields) {
    if (is_hop_by_hop(f.name)) continue;
    at.emplace_back(storage_.size(), f.name.size());
    storage_.append(f.name);
    at.emplace_back(storage_.size(), f.value.size());
    storage_.append(f.value);
  }
  const std::string_view all(storage_);
  for (std::size_t i = 0; i < at.size(); i += 2) {
    views_.push_back(
        {all.substr(at[i].first, at[i].second), all.substr(at[i + 1].first, at[i + 1].second)});
  }
}

std::shared_ptr<AdmissionWait> admit_stream(H2StreamHost& host, h2::StreamId id) {
  IoThread& thread = host.thread();
  auto wait = std::make_shared<AdmissionWait>(thread.io().get_executor());
  boost::asio::co_spawn(
      thread.io().get_executor(),
      [](std::shared_ptr<H2StreamHost> session, std::shared_ptr<AdmissionWait> wait,
         h2::StreamId id) -> net::Awaitable<void> {
        IoThread& thread = session->thread();
        policies::AdmissionPermit permit;
        const Failure failure =
            co_await wait->admit(thread.chain().admission(), thread.chain().signals(),
                                 thread.state().config.queue_timeout, permit);
        // A stream that closed meanwhile cancelled the wait; a permit granted anyway frees its
        // slot here.
        if (H2Stream* stream = session->find(id)) stream->admitted(failure, std::move(permit));
      }(host.keep_alive(), wait, id),
      boost::asio::detached);
  return wait;
}

}  // namespace mlsidecar
