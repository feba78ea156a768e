#include "server/service_inbox.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <vector>

namespace berth::server {
namespace {
namespace asio = boost::asio;

TEST(ServiceInbox, WorkPushedInOneTurnReachesTheServiceInOneHandlerInOrder) {
  asio::io_context network, service;
  std::vector<int> ran;
  asio::post(network, [&] {
    for (int i = 0; i < 100; ++i) postToService(network.get_executor(), service.get_executor(), [&ran, i] { ran.push_back(i); });
  });
  network.run();
  EXPECT_TRUE(ran.empty()) << "nothing runs on the network thread";
  EXPECT_EQ(service.run_one(), 1u);  // one handler …
  ASSERT_EQ(ran.size(), 100u);       // … carries all of them
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(service.poll(), 0u) << "no second handover";
}

TEST(ServiceInbox, ALaterTurnIsALaterHandoverAndOrderHoldsAcrossThem) {
  asio::io_context network, service;
  std::vector<int> ran;
  auto push = [&](int i) { postToService(network.get_executor(), service.get_executor(), [&ran, i] { ran.push_back(i); }); };
  asio::post(network, [&] {
    push(1);
    push(2);
    // Queued behind this turn's handover: the next turn.
    asio::post(network, [&] { asio::post(network, [&] { push(3); }); });
  });
  network.run();
  EXPECT_EQ(service.run(), 2u);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(ServiceInbox, TwoServicesInOneProcessEachGetTheirOwnWork) {
  asio::io_context network, serviceA, serviceB;
  std::vector<std::string> ran;
  asio::post(network, [&] {
    postToService(network.get_executor(), serviceA.get_executor(), [&] { ran.push_back("a1"); });
    postToService(network.get_executor(), serviceB.get_executor(), [&] { ran.push_back("b1"); });
    postToService(network.get_executor(), serviceA.get_executor(), [&] { ran.push_back("a2"); });
  });
  network.run();
  serviceB.run();
  EXPECT_EQ(ran, (std::vector<std::string>{"b1"}));
  serviceA.run();
  EXPECT_EQ(ran, (std::vector<std::string>{"b1", "a1", "a2"}));
}

TEST(ServiceInbox, ALoopDestroyedBeforeItsHandoverTakesTheWorkWithIt) {
  asio::io_context service;
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  {
    asio::io_context network;
    asio::post(network, [&] {
      postToService(network.get_executor(), service.get_executor(), [keep = std::move(alive)] {});
    });
    network.run_one();  // the push ran; its handover did not
  }
  EXPECT_TRUE(watch.expired()) << "the pending work was released with its loop";
  asio::io_context network2;
  bool ran = false;
  asio::post(network2, [&] { postToService(network2.get_executor(), service.get_executor(), [&] { ran = true; }); });
  network2.run();
  service.run();
  EXPECT_TRUE(ran) << "a new loop on the same thread starts a new batch";
}

}  // namespace
}  // namespace berth::server
