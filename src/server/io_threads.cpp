#include "server/io_threads.hpp"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <thread>

namespace berth::server {
namespace asio = boost::asio;

std::size_t ioThreadCount(int configured, unsigned cores) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  // The service thread takes a core of its own under load: a network thread
  // more than the cores left keeps each one under-busy, so it wakes per frame
  // instead of per batch (docs/BENCHMARKS.md: 1.6x the CPU per frame on two cores).
  return std::clamp<std::size_t>(cores > 1 ? cores - 1 : 1, 1, 8);
}

void nameThisThread(const std::string& name) { ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str()); }

IoThreads::IoThreads(std::size_t count) {
  for (std::size_t i = 0; i < std::max<std::size_t>(count, 1); ++i)
    contexts_.push_back(std::make_unique<asio::io_context>(1));
}

IoThreads::~IoThreads() {
  while (!contexts_.empty()) contexts_.pop_back();
}

asio::any_io_executor IoThreads::next() {
  return contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]->get_executor();
}

void IoThreads::run() {
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  for (auto& context : contexts_) work.push_back(asio::make_work_guard(*context));
  std::vector<std::thread> threads;
  struct Join {  // also when the first loop throws
    IoThreads& self;
    std::vector<std::thread>& threads;
    ~Join() {
      self.stop();
      for (auto& t : threads) t.join();
    }
  } join{*this, threads};
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([this, i] {
      nameThisThread("berth-io-" + std::to_string(i));
      contexts_[i]->run();
    });
  }
  contexts_.front()->run();  // the caller keeps its name: a process's name is its first thread's
}

void IoThreads::stop() {
  for (auto& context : contexts_) context->stop();
}

}  // namespace berth::server
