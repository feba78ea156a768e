#include "server/service_inbox.hpp"

#include <boost/asio/post.hpp>
#include <memory>
#include <vector>

namespace berth::server {
namespace asio = boost::asio;

namespace {
struct InboxBatch {
  asio::any_io_executor service;
  std::vector<std::function<void()>> work;
};

// The batch still being filled on this thread. Weak: the handover owns it, so
// a loop destroyed before its handover ran takes the batch with it.
thread_local std::weak_ptr<InboxBatch> tFilling;
}  // namespace

void postToService(const asio::any_io_executor& here, const asio::any_io_executor& service,
                   std::function<void()> work) {
  auto batch = tFilling.lock();
  if (!batch || batch->service != service) {  // none open, or one for another server in this process
    batch = std::make_shared<InboxBatch>();
    batch->service = service;
    tFilling = batch;
    // Runs once the handlers already ready on this thread are done.
    asio::post(here, [batch] {
      if (tFilling.lock() == batch) tFilling.reset();
      auto handover = std::make_shared<std::vector<std::function<void()>>>(std::move(batch->work));
      asio::post(batch->service, [handover] {
        for (auto& item : *handover) item();
      });
    });
  }
  batch->work.push_back(std::move(work));
}

}  // namespace berth::server
