#include "agent/keyed_workers.hpp"

namespace berth::agent {

KeyedWorkers::KeyedWorkers(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

KeyedWorkers::~KeyedWorkers() { stop(); }

void KeyedWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool KeyedWorkers::post(const std::string& key, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    tasks_.emplace_back(key, std::move(task));
  }
  wake_.notify_one();
  return true;
}

void KeyedWorkers::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    // The oldest task whose key is free: an earlier task of the same key is
    // either running (busy) or ahead in the queue, so per-key order holds.
    auto next = tasks_.end();
    wake_.wait(lock, [&] {
      if (stopping_) return true;
      for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
        if (!busy_.count(it->first)) {
          next = it;
          return true;
        }
      }
      return false;
    });
    if (stopping_) return;
    auto [key, task] = std::move(*next);
    tasks_.erase(next);
    busy_.insert(key);
    lock.unlock();
    task();
    lock.lock();
    busy_.erase(key);
    wake_.notify_all();  // a task of this key may be waiting
  }
}

}  // namespace berth::agent
