// A WebSocket text channel over TLS, shared by the server's agent sessions and
// the agent's connection. Beast allows one read and one write in flight, so
// writes go through a queue drained by one writer coroutine.
//
// Held by shared_ptr because the reader and writer coroutines and the owner
// (session table or agent loop) each keep it alive independently.
// Not thread-safe: use from the executor's single thread only (closing() may
// be read from any thread; other threads post their calls to executor()).
#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "net/tls_stream.hpp"

namespace berth::net {

// TlsStream, not beast::ssl_stream: it keeps no buffers while a session is idle (net/tls_stream.hpp).
using WsStream = boost::beast::websocket::stream<TlsStream>;

class WsChannel : public std::enable_shared_from_this<WsChannel> {
 public:
  explicit WsChannel(WsStream stream);

  // Starts the writer coroutine; call once after the handshake.
  void start();
  // Queues a text frame. Dropped silently once the channel is closing.
  void send(std::string text);
  // The next text frame, or nullopt when the channel closed or failed.
  boost::asio::awaitable<std::optional<std::string>> read();
  // Sends a close frame after the queued frames, then ends.
  void close(const std::string& reason);
  // Drops the connection at once without a close handshake.
  void abort();

  bool closing() const { return closing_.load(std::memory_order_relaxed); }
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  std::size_t queuedFrames() const { return queue_.size(); }
  // Bytes the read buffer holds on to between frames (memory per session).
  std::size_t readBufferCapacity() const { return read_buffer_.capacity(); }
  // A read buffer grown past this by a large frame is let go once the frame is read: kept, every
  // session would hold the largest frame it ever received (a command's long output) for good.
  static constexpr std::size_t kKeptReadBufferBytes = 16 * 1024;
  WsStream& stream() { return stream_; }

 private:
  boost::asio::awaitable<void> writeLoop();

  WsStream stream_;
  boost::asio::steady_timer wake_;
  std::deque<std::string> queue_;
  boost::beast::flat_buffer read_buffer_;
  std::atomic<bool> closing_{false};
  bool aborted_ = false;
  std::string close_reason_;
};

}  // namespace berth::net
