#include "net/ws_channel.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace berth::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

WsChannel::WsChannel(WsStream stream)
    : stream_(std::move(stream)), wake_(stream_.get_executor(), std::chrono::steady_clock::time_point::max()) {}

void WsChannel::start() {
  asio::co_spawn(
      stream_.get_executor(), [self = shared_from_this()] { return self->writeLoop(); }, asio::detached);
}

void WsChannel::send(std::string text) {
  if (closing_) return;
  queue_.push_back(std::move(text));
  wake_.cancel();
}

asio::awaitable<std::optional<std::string>> WsChannel::read() {
  beast::error_code ec;
  read_buffer_.clear();
  co_await stream_.async_read(read_buffer_, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    closing_ = true;
    wake_.cancel();
    co_return std::nullopt;
  }
  std::string text = beast::buffers_to_string(read_buffer_.data());
  if (read_buffer_.capacity() > kKeptReadBufferBytes) read_buffer_ = beast::flat_buffer();
  co_return text;
}

void WsChannel::close(const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = reason;
  wake_.cancel();
}

void WsChannel::abort() {
  closing_ = true;
  aborted_ = true;
  beast::error_code ignored;
  beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(stream_).close();
  wake_.cancel();
}

asio::awaitable<void> WsChannel::writeLoop() {
  auto self = shared_from_this();
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  for (;;) {
    while (!queue_.empty() && !aborted_) {
      stream_.text(true);
      co_await stream_.async_write(asio::buffer(queue_.front()), token);
      if (ec) {
        closing_ = true;
        queue_.clear();
        co_return;
      }
      queue_.pop_front();
    }
    if (closing_) break;
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await wake_.async_wait(token);
  }
  queue_.clear();
  if (!aborted_ && stream_.is_open()) {
    co_await stream_.async_close(websocket::close_reason(websocket::close_code::policy_error, close_reason_), token);
  }
}

}  // namespace berth::net
