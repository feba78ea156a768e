#include "net/tls_stream.hpp"

#include <boost/beast/core/error.hpp>
#include <sys/socket.h>

#include <cerrno>

namespace berth::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace tls_detail {
namespace {

error_code sslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return asio::error::connection_reset;
  // A peer that closed without close_notify: what asio's ssl::stream reports too.
  if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::ssl::error::stream_truncated;
  return error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

Step decide(SSL* ssl, int ret, std::size_t bytes) {
  if (ret > 0) return {Next::Done, bytes, {}};
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return {Next::WantRead, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      return {Next::WantWrite, 0, {}};
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return {Next::Failed, 0, asio::error::eof};
    case SSL_ERROR_SYSCALL: {
      const int saved = errno;
      auto ec = sslError();
      if (ec == asio::error::connection_reset && saved != 0) ec = error_code(saved, boost::system::system_category());
      return {Next::Failed, 0, ec};
    }
    default:
      return {Next::Failed, 0, sslError()};
  }
}

}  // namespace

Step readSome(SSL* ssl, void* data, std::size_t size) {
  if (size == 0) return {Next::Done, 0, {}};
  ERR_clear_error();
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl, data, size, &n);
  return decide(ssl, ret, n);
}

Step writeSome(SSL* ssl, const void* data, std::size_t size) {
  if (size == 0) return {Next::Done, 0, {}};
  ERR_clear_error();
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl, data, size, &n);
  return decide(ssl, ret, n);
}

Step handshake(SSL* ssl) {
  ERR_clear_error();
  return decide(ssl, SSL_do_handshake(ssl), 0);
}

Step shutdown(SSL* ssl) {
  ERR_clear_error();
  const int ret = SSL_shutdown(ssl);
  if (ret >= 0) return {Next::Done, 0, {}};  // 0: our close_notify is out; the peer's is not awaited
  return decide(ssl, ret, 0);
}

}  // namespace tls_detail

TimedSocket::TimedSocket(socket_type socket) : state_(std::make_shared<State>(std::move(socket))) {}

TimedSocket::~TimedSocket() {
  if (state_ && state_->timer) state_->timer->cancel();
}

void TimedSocket::expires_after(std::chrono::steady_clock::duration after) {
  state_->timed_out = false;
  if (!state_->timer) state_->timer = std::make_unique<asio::steady_timer>(state_->socket.get_executor());
  state_->timer->expires_after(after);
  state_->timer->async_wait([weak = std::weak_ptr<State>(state_)](const error_code& ec) {
    if (ec) return;  // re-armed, cancelled or destroyed
    auto state = weak.lock();
    if (!state) return;
    state->timed_out = true;
    error_code ignored;
    state->socket.close(ignored);
  });
}

void TimedSocket::expires_never() {
  state_->timed_out = false;
  state_->timer.reset();  // cancels a pending wait; an idle session keeps no timer
}

void TimedSocket::close() {
  error_code ignored;
  state_->socket.close(ignored);
}

TlsStream::TlsStream(asio::ip::tcp::socket socket, asio::ssl::context& context)
    : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
  if (!ssl_) throw std::bad_alloc();
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

TlsStream::TlsStream(const executor_type& executor, asio::ssl::context& context)
    : TlsStream(asio::ip::tcp::socket(executor), context) {}

TlsStream::TlsStream(asio::io_context& io, asio::ssl::context& context)
    : TlsStream(asio::ip::tcp::socket(io), context) {}

TlsStream::TlsStream(TlsStream&& other) noexcept
    : socket_(std::move(other.socket_)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      fd_set_(other.fd_set_),
      verify_(std::move(other.verify_)) {}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

namespace {
int verifyTrampoline(int preverified, X509_STORE_CTX* ctx) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* callback = ssl ? static_cast<std::function<bool(bool, asio::ssl::verify_context&)>*>(SSL_get_app_data(ssl))
                       : nullptr;
  if (!callback) return preverified;
  asio::ssl::verify_context context(ctx);
  return (*callback)(preverified != 0, context) ? 1 : 0;
}
}  // namespace

void TlsStream::set_verify_callback(std::function<bool(bool, asio::ssl::verify_context&)> callback) {
  // Held on the heap: the SSL keeps its address, and the stream may move.
  verify_ = std::make_unique<std::function<bool(bool, asio::ssl::verify_context&)>>(std::move(callback));
  SSL_set_app_data(ssl_, verify_.get());
  SSL_set_verify(ssl_, SSL_get_verify_mode(ssl_), verifyTrampoline);
}

namespace {
// OpenSSL's socket BIO writes with write(): a peer that has gone away would
// raise SIGPIPE and kill the process. Same BIO, but send(MSG_NOSIGNAL).
int sendWithoutSignal(BIO* bio, const char* data, int size) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  const int sent = static_cast<int>(::send(fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL));
  BIO_clear_retry_flags(bio);
  if (sent <= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
  return sent;
}

const BIO_METHOD* socketWithoutSignal() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "socket without SIGPIPE");
    BIO_meth_set_write(m, sendWithoutSignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}
}  // namespace

void TlsStream::prepare(handshake_type type) {
  if (!fd_set_) {
    error_code ignored;
    socket_.socket().native_non_blocking(true, ignored);  // the fd only: sync waits still block
    BIO* bio = BIO_new(socketWithoutSignal());
    BIO_set_fd(bio, static_cast<int>(socket_.socket().native_handle()), BIO_NOCLOSE);
    SSL_set_bio(ssl_, bio, bio);
    // One read() takes what the socket holds (several records) instead of a
    // header and a body per record; the buffer is still released when drained.
    SSL_set_read_ahead(ssl_, 1);
    fd_set_ = true;
  }
  if (type == asio::ssl::stream_base::server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

tls_detail::Step TlsStream::attempt(Kind kind, void* data, std::size_t size) {
  switch (kind) {
    case Kind::Handshake:
      return tls_detail::handshake(ssl_);
    case Kind::Read:
      return tls_detail::readSome(ssl_, data, size);
    case Kind::Write:
      return tls_detail::writeSome(ssl_, data, size);
    case Kind::Shutdown: {
      if (!fd_set_ || !socket_.socket().is_open()) return {tls_detail::Next::Done, 0, {}};
      auto step = tls_detail::shutdown(ssl_);
      if (step.next == tls_detail::Next::Done || step.next == tls_detail::Next::Failed) {
        error_code ignored;
        socket_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      }
      return step;
    }
  }
  return {tls_detail::Next::Failed, 0, asio::error::invalid_argument};
}

error_code TlsStream::waitFailed(const error_code& ec) const {
  if (socket_.timedOut()) return boost::beast::error::timeout;
  return ec;
}

namespace {
// Blocks on the socket until the SSL call is done (the sync API: tests and tools).
template <class Attempt>
tls_detail::Step blocking(asio::ip::tcp::socket& socket, Attempt&& attempt) {
  for (;;) {
    auto step = attempt();
    if (step.next == tls_detail::Next::Done || step.next == tls_detail::Next::Failed) return step;
    error_code ec;
    socket.wait(step.next == tls_detail::Next::WantRead ? asio::socket_base::wait_read : asio::socket_base::wait_write,
                ec);
    if (ec) return {tls_detail::Next::Failed, 0, ec};
  }
}
}  // namespace

void TlsStream::handshake(handshake_type type, error_code& ec) {
  prepare(type);
  ec = blocking(socket_.socket(), [&] { return attempt(Kind::Handshake, nullptr, 0); }).ec;
}

void TlsStream::handshake(handshake_type type) {
  error_code ec;
  handshake(type, ec);
  if (ec) throw boost::system::system_error(ec);
}

std::size_t TlsStream::read_some(const asio::mutable_buffer& buffer, error_code& ec) {
  auto step = blocking(socket_.socket(), [&] { return attempt(Kind::Read, buffer.data(), buffer.size()); });
  ec = step.ec;
  return step.bytes;
}

std::size_t TlsStream::write_some(const asio::const_buffer& buffer, error_code& ec) {
  auto step = blocking(socket_.socket(),
                       [&] { return attempt(Kind::Write, const_cast<void*>(buffer.data()), buffer.size()); });
  ec = step.ec;
  return step.bytes;
}

void TlsStream::shutdown(error_code& ec) {
  ec = blocking(socket_.socket(), [&] { return attempt(Kind::Shutdown, nullptr, 0); }).ec;
}

void teardown(boost::beast::role_type, TlsStream& stream, error_code& ec) {
  stream.shutdown(ec);
  if (ec == asio::error::eof) ec = {};
  stream.next_layer().close();
}

}  // namespace berth::net
