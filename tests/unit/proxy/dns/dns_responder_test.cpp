// The responder on a real loopback UDP socket: it answers from the table it
// holds, and tells when it last answered, so a caller knows how old a client's
// cached copy of the replaced table can be.
#include "proxy/dns/dns_responder.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/udp.hpp>

#include <vector>

namespace berth::proxy::dns {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// id 7, one question: web.berth.internal, type A, class IN.
const std::vector<std::uint8_t> kWebA = {0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                         3,    'w',  'e',  'b',  5,    'b',  'e',  'r',  't',  'h',  8,    'i',
                                         'n',  't',  'e',  'r',  'n',  'a',  'l',  0,    0x00, 0x01, 0x00, 0x01};

std::vector<std::uint8_t> ask(std::uint16_t port) {
  asio::io_context io;
  asio::ip::udp::socket socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  socket.send_to(asio::buffer(kWebA), {asio::ip::make_address("127.0.0.1"), port});
  std::vector<std::uint8_t> answer(512);
  asio::ip::udp::endpoint from;
  answer.resize(socket.receive_from(asio::buffer(answer), from));
  return answer;
}

TEST(DnsResponder, SaysWhenItLastAnsweredSoACallerCanWaitOutCachedCopies) {
  auto responder = DnsResponder::start("127.0.0.1", 0, "berth.internal");
  ASSERT_TRUE(responder.ok()) << responder.error().message;
  auto& r = **responder;
  EXPECT_EQ(r.setRecords({{"web.berth.internal", {"172.18.0.5"}}}), Clock::time_point{}) << "nothing answered yet";

  const auto before = Clock::now();
  const auto first = ask(r.port());
  ASSERT_GT(first.size(), kWebA.size());
  EXPECT_EQ(first[7], 1) << "one answer record";
  const auto answered = r.setRecords({{"web.berth.internal", {"172.18.0.6"}}});
  EXPECT_GE(answered, before);
  EXPECT_LE(answered, Clock::now());

  const auto second = ask(r.port());
  ASSERT_GE(second.size(), 4u);
  EXPECT_EQ(std::vector<std::uint8_t>(second.end() - 4, second.end()), (std::vector<std::uint8_t>{172, 18, 0, 6}))
      << "the new table answers";
  EXPECT_GE(r.setRecords({}), answered);
}

}  // namespace
}  // namespace berth::proxy::dns
