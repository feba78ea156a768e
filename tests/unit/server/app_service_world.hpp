// An AppService over a fresh SQLite store and a CommandService, with a clock the
// test moves, for the AppService unit tests (nothing is dispatched to nodes).
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "../temp_dir.hpp"
#include "server/app_service.hpp"
#include "server/command_service.hpp"
#include "store/store.hpp"

namespace berth::server::testing {

struct AppServiceWorld {
  // An online node `id` (org "": a platform node).
  store::Node onlineNode(const std::string& id, const std::string& org = "") {
    store::Node node;
    node.id = id;
    node.hostname = id;
    node.org = org;
    node.status = store::NodeStatus::Online;
    return node;
  }

  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store = std::move(store::openSqliteStore(dir.path() + "/db").value());
  Metrics metrics;
  std::int64_t now = 1'000'000;
  ServerConfig config;
  CommandService commands{*store, metrics, [this] { return now; }, config};
  boost::asio::io_context io;
  AppService apps{*store, commands, metrics, [this] { return now; }, config, std::string(32, 'k'), io.get_executor()};
};

}  // namespace berth::server::testing
