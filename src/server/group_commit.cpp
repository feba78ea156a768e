#include "server/group_commit.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"

namespace berth::server {
namespace asio = boost::asio;

GroupCommit::GroupCommit(asio::any_io_executor executor, store::Store& store)
    : executor_(executor), store_(store), committed_signal_(executor, std::chrono::steady_clock::time_point::max()) {}

void GroupCommit::attach() {
  store_.enableGroupCommit([this] { onBatchOpened(); });
}

void GroupCommit::onBatchOpened() {
  ++opened_;
  asio::post(executor_, [this] { flushNow(); });
}

void GroupCommit::flushNow() {
  if (!store_.batchOpen()) return;
  // Callbacks run by flush() may open the next batch; it is not this one.
  const std::uint64_t flushing = opened_;
  auto r = store_.flush();
  committed_ = flushing;
  if (r) {
    last_error_.reset();
  } else {
    last_error_ = r.error();
    log::error("group commit failed", {{"error", r.error().message}});
  }
  committed_signal_.cancel();  // wakes every waiter; the expiry stays at max for the next batch
}

asio::awaitable<Result<void>> GroupCommit::durable() {
  const std::uint64_t target = opened_;
  while (committed_ < target) {
    boost::system::error_code ec;
    co_await committed_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (last_error_) co_return *last_error_;
  co_return Ok{};
}

}  // namespace berth::server
