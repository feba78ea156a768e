// Work bound for the service thread, gathered on a network thread and handed
// over in one post per turn of that thread's loop: under load one read turn
// covers many sessions, and the service thread is woken once for all of their
// frames instead of once per frame. Order is kept: the work one network thread
// hands over runs on the service thread in the order it was pushed.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>

namespace berth::server {

// Call on a network thread (`here` is its executor); `work` runs on `service`.
void postToService(const boost::asio::any_io_executor& here, const boost::asio::any_io_executor& service,
                   std::function<void()> work);

}  // namespace berth::server
