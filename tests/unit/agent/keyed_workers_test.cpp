#include "agent/keyed_workers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>

namespace berth::agent {
namespace {

TEST(KeyedWorkers, SameKeyRunsInOrderOneAtATime) {
  std::mutex m;
  std::vector<int> order;
  std::atomic<int> running{0}, overlap{0};
  std::promise<void> done;
  {
    KeyedWorkers workers(4);
    for (int i = 0; i < 50; ++i) {
      workers.post("web", [&, i] {
        if (++running > 1) ++overlap;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        {
          std::lock_guard lock(m);
          order.push_back(i);
        }
        --running;
        if (i == 49) done.set_value();
      });
    }
    done.get_future().wait();
  }
  EXPECT_EQ(overlap, 0);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(KeyedWorkers, OtherKeysDoNotWaitForABusyOne) {
  KeyedWorkers workers(2);
  std::promise<void> release, fastDone;
  auto gate = release.get_future().share();
  workers.post("slow", [gate] { gate.wait(); });
  workers.post("slow", [] {});                       // queued behind the slow one
  workers.post("fast", [&] { fastDone.set_value(); });  // must not wait for "slow"
  EXPECT_EQ(fastDone.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  release.set_value();
}

}  // namespace
}  // namespace berth::agent
