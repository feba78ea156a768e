// The network threads: one io_context each, so a connection (its socket, TLS,
// HTTP parsing, WebSocket frames and validation) stays on the thread it was
// accepted onto and needs no locks. The service thread (store, queue) is apart.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace berth::server {

// `configured` 0 means one per core but the service thread's (at most 8); always at least one.
std::size_t ioThreadCount(int configured, unsigned cores);

// Names the calling thread as `top` and ps show it (at most 15 characters kept).
void nameThisThread(const std::string& name);

class IoThreads {
 public:
  explicit IoThreads(std::size_t count);
  // The first context goes last: the others' connections post to it as they end.
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  std::size_t size() const { return contexts_.size(); }
  // The first thread: the acceptor, the metrics listener and shutdown run here.
  boost::asio::io_context& first() { return *contexts_.front(); }
  // The thread for the next accepted connection (round robin).
  boost::asio::any_io_executor next();
  // Runs every context: the others on threads of their own (berth-io-1…), the
  // first on the caller's; returns once all have stopped.
  void run();
  void stop();

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace berth::server
