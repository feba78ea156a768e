#include "server/io_threads.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <boost/asio/post.hpp>
#include <future>
#include <set>
#include <thread>

namespace berth::server {
namespace {

TEST(IoThreadCount, ZeroLeavesACoreToTheServiceThreadBetweenOneAndEight) {
  EXPECT_EQ(ioThreadCount(0, 2), 1u);
  EXPECT_EQ(ioThreadCount(0, 4), 3u);
  EXPECT_EQ(ioThreadCount(0, 1), 1u);
  EXPECT_EQ(ioThreadCount(0, 0), 1u);  // hardware_concurrency() may say 0
  EXPECT_EQ(ioThreadCount(0, 64), 8u);
  EXPECT_EQ(ioThreadCount(0, 9), 8u);
  EXPECT_EQ(ioThreadCount(3, 2), 3u);  // an explicit setting is taken as given
}

struct ThreadSeen {
  std::thread::id id;
  std::string name;
};

ThreadSeen whereItRan(const boost::asio::any_io_executor& executor) {
  std::promise<ThreadSeen> seen;
  boost::asio::post(executor, [&seen] {
    char name[16] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof name);
    seen.set_value({std::this_thread::get_id(), name});
  });
  return seen.get_future().get();
}

TEST(IoThreads, ConnectionsAreDealtRoundRobinAndEachExecutorKeepsItsThread) {
  IoThreads threads(3);
  ASSERT_EQ(threads.size(), 3u);
  std::thread runner([&threads] { threads.run(); });
  std::vector<boost::asio::any_io_executor> dealt;
  for (int i = 0; i < 6; ++i) dealt.push_back(threads.next());

  std::vector<ThreadSeen> first;
  for (int i = 0; i < 3; ++i) first.push_back(whereItRan(dealt[i]));
  std::set<std::thread::id> distinct;
  for (const auto& seen : first) distinct.insert(seen.id);
  EXPECT_EQ(distinct.size(), 3u) << "three connections in a row went to three threads";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(whereItRan(dealt[i + 3]).id, first[i].id) << "the fourth connection goes back to the first thread";
    EXPECT_EQ(whereItRan(dealt[i]).id, first[i].id) << "an executor's work always runs on the same thread";
  }
  std::set<std::string> names;
  for (const auto& seen : first) names.insert(seen.name);
  EXPECT_TRUE(names.count("berth-io-1") && names.count("berth-io-2")) << "threads named for top and ps";
  EXPECT_EQ(whereItRan(threads.first().get_executor()).id, runner.get_id()) << "the first runs on the caller";

  threads.stop();
  runner.join();  // run() returns once every thread has stopped
}

TEST(IoThreads, AtLeastOneThread) {
  IoThreads threads(0);
  EXPECT_EQ(threads.size(), 1u);
}

}  // namespace
}  // namespace berth::server
