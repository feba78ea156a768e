// The REST API's route table as the server builds it: an Api over a throw-away
// SQLite store and identity, never run, so tests can walk routes() (the
// OpenAPI checks in tests/unit/server/openapi_test.cpp and
// tests/integration/openapi_test.cpp). Needs berth_server.
#pragma once

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "server/api.hpp"
#include "store/store.hpp"

namespace berth::testing {

struct ApiRoute {
  std::string method;
  std::string pattern;  // under /api/v1, as in the table: "/apps/{name}"
  server::Scope scope;
};

inline std::vector<ApiRoute> apiRoutes() {
  std::string pattern = std::filesystem::temp_directory_path().string() + "/berth-routes-XXXXXX";
  const std::string dir = ::mkdtemp(pattern.data());
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  Clock clock = [] { return std::int64_t{1'000'000}; };
  auto store = std::move(store::openSqliteStore(dir + "/db").value());
  server::Metrics metrics;
  server::ServerConfig config;
  boost::asio::io_context io;
  server::CommandService commands{*store, metrics, clock, config};
  auto identity = server::loadOrCreateIdentity(dir + "/pki", {"localhost"}, clock()).value();
  server::Gateway gateway{io.get_executor(), *store, commands, metrics, clock, config, identity};
  server::AppService apps{*store, commands, metrics, clock, config, std::string(32, 'k'), io.get_executor()};
  server::AuthService auth{*store, clock};
  server::ClientCertificates certificates;
  server::Api api{server::ApiDependencies{*store, commands, gateway, apps, auth, metrics, config, identity, clock, 0,
                                          certificates, [] { return std::string("https://localhost"); }}};
  std::vector<ApiRoute> out;
  for (const auto& route : api.routes().routes()) out.push_back({route.method, route.pattern, route.scope});
  return out;
}

}  // namespace berth::testing
