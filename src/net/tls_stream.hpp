// A TLS stream that keeps no idle buffers, for the agent sessions the server
// holds by the thousand (issue 12). Asio's ssl::stream puts a BIO pair and two
// 17 KiB staging buffers (about 68 KiB) in every connection for its whole
// life. Here OpenSSL reads and writes the socket itself, non-blocking, with
// SSL_MODE_RELEASE_BUFFERS, and the stream only waits for the socket to be
// ready: an idle connection costs the SSL object and nothing more.
//
// The surface is the part of beast::ssl_stream<beast::tcp_stream> berth uses,
// so Beast's HTTP and WebSocket code run on it unchanged: async_read_some /
// async_write_some (and sync read_some / write_some), handshake and shutdown,
// native_handle(), set_verify_callback(), and a lowest layer (TimedSocket)
// with connect and expires_after/expires_never.
//
// One read and one write may be in flight at once (what Beast's WebSocket
// does); both run on the stream's executor, never on two threads at a time.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/role.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>
#include <algorithm>

namespace berth::net {

namespace tls_detail {
// What an SSL call asks for next.
enum class Next { Done, WantRead, WantWrite, Failed };
struct Step {
  Next next = Next::Done;
  std::size_t bytes = 0;
  boost::system::error_code ec;
};
// One non-blocking attempt at each operation; the error queue is cleared first
// (every session of a thread shares it) and read into `ec` on failure.
Step readSome(SSL* ssl, void* data, std::size_t size);
Step writeSome(SSL* ssl, const void* data, std::size_t size);
Step handshake(SSL* ssl);
Step shutdown(SSL* ssl);
}  // namespace tls_detail

// A TCP socket with one deadline: when it passes, the socket is closed, so any
// operation waiting on it ends (with beast::error::timeout reported by the TLS
// layer). Its state lives on the heap, so the stream can be moved while the
// deadline timer is armed.
class TimedSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using socket_type = boost::asio::ip::tcp::socket;

  explicit TimedSocket(socket_type socket);
  explicit TimedSocket(const executor_type& executor) : TimedSocket(socket_type(executor)) {}
  explicit TimedSocket(boost::asio::io_context& io) : TimedSocket(socket_type(io)) {}
  TimedSocket(TimedSocket&&) noexcept = default;
  TimedSocket& operator=(TimedSocket&&) noexcept = default;
  ~TimedSocket();

  executor_type get_executor() { return state_->socket.get_executor(); }
  socket_type& socket() { return state_->socket; }
  void expires_after(std::chrono::steady_clock::duration after);
  void expires_never();
  // Whether the deadline closed the socket (cleared by the next expires_*).
  bool timedOut() const { return state_->timed_out; }
  void close();

  template <class Endpoints>
  void connect(const Endpoints& endpoints) {
    boost::asio::connect(state_->socket, endpoints);
  }
  template <class Endpoints, class Token>
  auto async_connect(const Endpoints& endpoints, Token&& token) {
    return boost::asio::async_connect(state_->socket, endpoints, std::forward<Token>(token));
  }
  template <class Token>
  auto async_connect(const boost::asio::ip::tcp::endpoint& endpoint, Token&& token) {
    return state_->socket.async_connect(endpoint, std::forward<Token>(token));
  }

 private:
  struct State {
    explicit State(socket_type s) : socket(std::move(s)) {}
    socket_type socket;
    std::unique_ptr<boost::asio::steady_timer> timer;  // only while a deadline is set
    bool timed_out = false;
  };
  std::shared_ptr<State> state_;
};

class TlsStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using next_layer_type = TimedSocket;
  using lowest_layer_type = TimedSocket;
  using handshake_type = boost::asio::ssl::stream_base::handshake_type;

  TlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  TlsStream(const executor_type& executor, boost::asio::ssl::context& context);
  TlsStream(boost::asio::io_context& io, boost::asio::ssl::context& context);
  TlsStream(TlsStream&& other) noexcept;
  TlsStream& operator=(TlsStream&&) = delete;
  ~TlsStream();

  executor_type get_executor() { return socket_.get_executor(); }
  TimedSocket& next_layer() { return socket_; }
  TimedSocket& lowest_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }
  void set_verify_callback(std::function<bool(bool, boost::asio::ssl::verify_context&)> callback);

  void handshake(handshake_type type);
  void handshake(handshake_type type, boost::system::error_code& ec);
  std::size_t read_some(const boost::asio::mutable_buffer& buffer, boost::system::error_code& ec);
  std::size_t write_some(const boost::asio::const_buffer& buffer, boost::system::error_code& ec);
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    return read_some(first(buffers), ec);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    auto n = read_some(first(buffers), ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    auto owned = gathered(buffers);
    if (!owned.empty()) return write_some(boost::asio::const_buffer(owned.data(), owned.size()), ec);
    return write_some(boost::asio::const_buffer(first(buffers)), ec);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    boost::system::error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class Token>
  auto async_handshake(handshake_type type, Token&& token) {
    prepare(type);
    return run(Kind::Handshake, nullptr, 0, std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    auto b = first(buffers);
    return runSized(Kind::Read, b.data(), b.size(), std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    boost::asio::const_buffer b = first(buffers);
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Op<true>{*this, Kind::Write, const_cast<void*>(b.data()), b.size(), gathered(buffers)}, token,
        socket_.socket());
  }
  // Sends close_notify (without waiting for the peer's) and shuts the socket down.
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run(Kind::Shutdown, nullptr, 0, std::forward<Token>(token));
  }
  void shutdown(boost::system::error_code& ec);

 private:
  enum class Kind { Handshake, Read, Write, Shutdown };

  template <class Buffers>
  static auto first(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if ((*it).size() > 0) return *it;
    return *boost::asio::buffer_sequence_begin(buffers);
  }
  // A write of several buffers (a frame's header and payload, a response's
  // head and body) goes out as one TLS record of up to 16 KiB, not one each.
  template <class ConstBuffers>
  static std::vector<char> gathered(const ConstBuffers& buffers) {
    const std::size_t total = boost::asio::buffer_size(buffers);
    if (total == boost::asio::const_buffer(first(buffers)).size()) return {};
    std::vector<char> out(std::min<std::size_t>(total, kMaxRecord));
    boost::asio::buffer_copy(boost::asio::buffer(out), buffers);
    return out;
  }
  static constexpr std::size_t kMaxRecord = 16384;
  static boost::asio::mutable_buffer first(const boost::asio::mutable_buffer& b) { return b; }
  static boost::asio::const_buffer first(const boost::asio::const_buffer& b) { return b; }

  void prepare(handshake_type type);
  tls_detail::Step attempt(Kind kind, void* data, std::size_t size);
  boost::system::error_code waitFailed(const boost::system::error_code& ec) const;

  // Tries the SSL call; on "want read/write" waits for the socket and tries
  // again. Completion is never inline: an immediate result is posted first.
  template <bool Sized>  // completes with (ec, bytes) for reads and writes, (ec) otherwise
  struct Op {
    TlsStream& stream;
    Kind kind;
    void* data;
    std::size_t size;
    std::vector<char> owned = {};  // gathered bytes to write instead of data (stable across moves)
    enum { Start, Waiting, Finishing } state = Start;
    tls_detail::Step result{};

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (state == Finishing) return finish(self);
      if (state == Waiting && ec) {
        result = {tls_detail::Next::Failed, 0, stream.waitFailed(ec)};
        return finish(self);
      }
      const bool first = state == Start;
      result = owned.empty() ? stream.attempt(kind, data, size) : stream.attempt(kind, owned.data(), owned.size());
      using tls_detail::Next;
      if (result.next == Next::WantRead || result.next == Next::WantWrite) {
        state = Waiting;
        stream.socket_.socket().async_wait(result.next == Next::WantRead ? boost::asio::socket_base::wait_read
                                                                         : boost::asio::socket_base::wait_write,
                                           std::move(self));
        return;
      }
      if (first) {
        state = Finishing;
        boost::asio::post(std::move(self));
        return;
      }
      finish(self);
    }
    template <class Self>
    void finish(Self& self) {
      if constexpr (Sized)
        self.complete(result.ec, result.bytes);
      else
        self.complete(result.ec);
    }
  };

  template <class Token>
  auto run(Kind kind, void* data, std::size_t size, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(Op<false>{*this, kind, data, size},
                                                                              token, socket_.socket());
  }
  template <class Token>
  auto runSized(Kind kind, void* data, std::size_t size, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Op<true>{*this, kind, data, size}, token, socket_.socket());
  }

  TimedSocket socket_;
  SSL* ssl_ = nullptr;
  bool fd_set_ = false;
  std::unique_ptr<std::function<bool(bool, boost::asio::ssl::verify_context&)>> verify_;
};

// Beast closes streams through these customisation points (found by ADL):
// its WebSocket's close handshake ends in (async_)teardown, its timeouts in
// beast_close_socket on the lowest layer.
void teardown(boost::beast::role_type role, TlsStream& stream, boost::system::error_code& ec);
template <class Handler>
void async_teardown(boost::beast::role_type, TlsStream& stream, Handler&& handler) {
  auto executor = boost::asio::get_associated_executor(handler, stream.get_executor());
  stream.async_shutdown(boost::asio::bind_executor(
      executor, [&stream, handler = std::forward<Handler>(handler)](boost::system::error_code ec) mutable {
        stream.next_layer().close();
        if (ec == boost::asio::error::eof) ec = {};
        std::move(handler)(ec);
      }));
}
inline void beast_close_socket(TimedSocket& socket) { socket.close(); }

}  // namespace berth::net
