// A CommandService on a fresh SQLite store with a clock the test moves.
#pragma once

#include <gtest/gtest.h>

#include "../temp_dir.hpp"
#include "server/command_service.hpp"

namespace berth::server {

class CommandServiceWorld : public ::testing::Test {
 protected:
  berth::testing::TempDir dir;
  std::unique_ptr<store::Store> store = std::move(store::openSqliteStore(dir.path() + "/db").value());
  Metrics metrics;
  std::int64_t now = 1'000'000;
  ServerConfig config;
  CommandService service{*store, metrics, [this] { return now; }, config};
};

}  // namespace berth::server
