#include "sidecar/h2/connection.h"

#include "sidecar/h2/session_core.h"

namespace mlsidecar::h2 {

Connection::Connection(std::unique_ptr<detail::SessionCore> core) : core_(std::move(core)) {}
Connection::~Connection() = default;

FeedResult Connection::feed(std::string_view bytes, Clock::time_point now) {
  return core_->feed(bytes, now);
}
std::string_view Connection::pending_output() { return core_->pending_output(); }
void Connection::output_written(std::size_t n) { core_->output_written(n); }
std::string Connection::take_output() { return core_->take_output(); }
bool Connection::wants_close() const { return core_->wants_close(); }
bool Connection::send_data(StreamId id, std::string_view data) {
  return core_->send_data(id, data);
}
bool Connection::reset_stream(StreamId id, std::uint32_t error_code) {
  return core_->reset_stream(id, error_code);
}
void Connection::consume(StreamId id, std::size_t bytes) { core_->consume(id, bytes); }
std::size_t Connection::buffered(StreamId id) const { return core_->buffered(id); }
bool Connection::has_open_streams() const { return core_->open_streams() > 0; }
std::size_t Connection::open_streams() const { return core_->open_streams(); }

}  // namespace mlsidecar::h2
