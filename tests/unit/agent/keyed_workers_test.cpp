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

// A task still running while its pool stops can post (follow-up work of a finished command):
// the post is refused, nothing queued before the stop runs after it, and stop() waits for the task.
TEST(KeyedWorkers, StopWaitsForTheRunningTaskAndRefusesWhatItPostsMeanwhile) {
  KeyedWorkers workers(1);  // one thread: nothing else runs while the task does
  std::promise<void> started;
  std::atomic<int> followUpsRan{0};
  std::atomic<bool> refused{false}, finished{false};
  workers.post("app", [&] {
    started.set_value();
    // Posts until the pool says it stops (bounded: 10 s).
    for (int i = 0; i < 10000 && !refused; ++i) {
      refused = !workers.post("certificates", [&] { ++followUpsRan; });
      if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    finished = true;
  });
  started.get_future().wait();
  workers.stop();  // returns once the task has finished
  EXPECT_TRUE(finished);
  EXPECT_TRUE(refused);
  EXPECT_EQ(followUpsRan, 0);  // queued before the stop, dropped with it
  EXPECT_FALSE(workers.post("late", [&] { ++followUpsRan; }));
  workers.stop();  // a second stop is harmless
  EXPECT_EQ(followUpsRan, 0);
}

}  // namespace
}  // namespace berth::agent
