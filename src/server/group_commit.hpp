// Group commit for the store: writes from every request handled in one turn
// of the I/O loop share a single COMMIT, posted to run after the handlers
// that are already ready. A request whose writes must be durable before it is
// answered awaits durable(). Single-threaded, on the server's I/O thread.
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>

#include "common/result.hpp"
#include "store/store.hpp"

namespace berth::server {

class GroupCommit {
 public:
  GroupCommit(boost::asio::any_io_executor executor, store::Store& store);
  // Makes the store batch its transactions through this object.
  void attach();
  // Resolves once everything written so far is committed; the error when that commit failed.
  boost::asio::awaitable<Result<void>> durable();
  // Commits now (shutdown).
  void flushNow();

 private:
  void onBatchOpened();

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  boost::asio::steady_timer committed_signal_;
  std::uint64_t opened_ = 0;     // batches opened so far
  std::uint64_t committed_ = 0;  // batches finished (committed or failed)
  std::optional<Error> last_error_;
};

}  // namespace berth::server
