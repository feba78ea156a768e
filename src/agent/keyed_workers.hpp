// A small thread pool for work that blocks on the container runtime. Tasks
// posted with the same key run one at a time in the order posted; tasks with
// different keys run in parallel. The agent keys app work by app name, so a
// slow health check of one app does not hold up another app's deploy.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace berth::agent {

class KeyedWorkers {
 public:
  explicit KeyedWorkers(int threads);
  // Waits for the running tasks; queued ones are dropped.
  ~KeyedWorkers();
  // The same, while the pool stays a valid object: a running task may still post (its post is
  // dropped). The owner stops the pool before it lets go of it, never the other way round.
  void stop();
  // False, and the task dropped, once stop() began.
  bool post(const std::string& key, std::function<void()> task);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::function<void()>>> tasks_;
  std::set<std::string> busy_;  // keys with a task running
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace berth::agent
