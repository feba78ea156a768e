#include "proxy/dns/dns_responder.hpp"

#include <boost/asio/buffer.hpp>

namespace berth::proxy::dns {
namespace asio = boost::asio;

DnsResponder::DnsResponder(std::string zone) : zone_(std::move(zone)) {}

Result<std::unique_ptr<DnsResponder>> DnsResponder::start(const std::string& address, std::uint16_t port,
                                                          std::string zone) {
  std::unique_ptr<DnsResponder> responder(new DnsResponder(std::move(zone)));
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return invalidField("dns_listen", "'" + address + "' must be an IP address");
  const asio::ip::udp::endpoint local(ip, port);
  responder->socket_.open(local.protocol(), ec);
  if (!ec) responder->socket_.bind(local, ec);
  if (ec)
    return makeError("proxy_start_failed",
                     "cannot bind the upstream DNS responder to " + address + ":" + std::to_string(port) + ": " + ec.message());
  responder->port_ = responder->socket_.local_endpoint().port();
  responder->receive();
  responder->thread_ = std::thread([r = responder.get()] { r->io_.run(); });
  return responder;
}

DnsResponder::~DnsResponder() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

std::chrono::steady_clock::time_point DnsResponder::setRecords(Records records) {
  std::lock_guard lock(mutex_);
  records_ = std::move(records);
  return last_answer_;
}

Records DnsResponder::records() const {
  std::lock_guard lock(mutex_);
  return records_;
}

void DnsResponder::receive() {
  socket_.async_receive_from(asio::buffer(buffer_), peer_, [this](boost::system::error_code ec, std::size_t size) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec && size <= kMaxMessageSize) {
      std::vector<std::uint8_t> answer;
      {
        std::lock_guard lock(mutex_);
        answer = answerQuery(std::span<const std::uint8_t>(buffer_.data(), size), records_, zone_);
        if (!answer.empty()) last_answer_ = std::chrono::steady_clock::now();
      }
      // A lost answer is a client's timeout and retry, as with any UDP DNS server.
      boost::system::error_code ignored;
      if (!answer.empty()) socket_.send_to(asio::buffer(answer), peer_, 0, ignored);
    }
    receive();
  });
}

}  // namespace berth::proxy::dns
