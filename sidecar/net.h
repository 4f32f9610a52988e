// The I/O object types of the data path, bound to the io_context's own executor instead of the
// type-erased any_io_executor: every asynchronous operation and coroutine resumption otherwise
// copies, moves and destroys an any_executor (about 6% of the proxy's user CPU per request when
// measured with perf). Each I/O thread owns one io_context, so nothing needs the erasure.
//
// Thread-safety: type aliases and a completion token only.
#pragma once

#include <utility>  // before Boost 1.74 awaitable.hpp, which needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace mlsidecar::net {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

template <class T>
using Awaitable = boost::asio::awaitable<T, Executor>;

// The completion token of the data path's coroutines: errors land in `ec`, never thrown.
inline auto redirect(boost::system::error_code& ec) {
  return boost::asio::redirect_error(boost::asio::use_awaitable_t<Executor>{}, ec);
}

}  // namespace mlsidecar::net
