#include "sidecar/linger.h"

#include <array>

namespace mlsidecar {

net::Awaitable<void> linger_and_close(net::Socket& socket, std::chrono::milliseconds time,
                                      std::size_t max_bytes) {
  boost::system::error_code ec;
  socket.shutdown(net::Socket::shutdown_send, ec);
  net::Timer timer(socket.get_executor());
  timer.expires_after(time);
  timer.async_wait([&socket](boost::system::error_code e) {
    if (!e) socket.close(e);  // ends the read below
  });
  std::array<char, 4096> sink;
  std::size_t discarded = 0;
  while (!ec && discarded < max_bytes) {
    discarded += co_await socket.async_read_some(boost::asio::buffer(sink), net::redirect(ec));
  }
  timer.cancel();
  socket.close(ec);
}

}  // namespace mlsidecar
