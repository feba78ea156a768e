// A UDP DNS responder on a loopback address, authoritative for one zone
// (berth.internal): Caddy's dynamic `a` upstreams ask it where an app's
// containers are, so upstreams move by changing this table, without a config
// load. Answers on its own thread; never recurses; malformed packets dropped.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "proxy/dns/dns_message.hpp"

namespace berth::proxy::dns {

class DnsResponder {
 public:
  // Binds UDP `address`:`port` (0: a free port) and starts answering; an error
  // when the address cannot be bound.
  static Result<std::unique_ptr<DnsResponder>> start(const std::string& address, std::uint16_t port,
                                                     std::string zone);
  ~DnsResponder();  // stops answering and joins the thread
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  std::uint16_t port() const { return port_; }
  // Thread-safe; queries answered after it returns see the new table. Returns
  // when the last answer so far was given (the epoch when none was): a client's
  // cache of the replaced table is no younger than that.
  std::chrono::steady_clock::time_point setRecords(Records records);
  Records records() const;

 private:
  explicit DnsResponder(std::string zone);
  void receive();

  std::string zone_;
  boost::asio::io_context io_;
  boost::asio::ip::udp::socket socket_{io_};
  boost::asio::ip::udp::endpoint peer_;
  std::array<std::uint8_t, kMaxMessageSize + 1> buffer_{};  // one byte more: longer datagrams are seen and dropped
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  Records records_;  // guarded by mutex_
  std::chrono::steady_clock::time_point last_answer_{};  // guarded by mutex_
  std::thread thread_;
};

}  // namespace berth::proxy::dns
