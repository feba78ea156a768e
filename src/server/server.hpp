// berth server: wires the store, identity, command queue, gateway, API and
// listener together and runs them on two threads: network and service.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

struct ServerOptions {
  std::string config_file;                                   // may be empty
  nlohmann::json flag_overrides = nlohmann::json::object();  // from the command line
  bool handle_signals = true;                                // SIGINT/SIGTERM stop, SIGHUP reloads
  // The user's CLI context file (~/.config/berth/cli.json), written besides
  // <data_dir>/cli.json; empty: only the latter.
  std::string user_context_path;
  // Settings used when neither the file, the environment nor the flags give
  // them (`berth dev`: base_domain localhost).
  nlohmann::json defaults = nlohmann::json::object();
};

class Server {
 public:
  // `config` comes from loadServerConfig(options) (kept for SIGHUP reloads);
  // the store is opened by the caller (main.cpp), so the server
  // runs on whichever implementation it is given.
  static Result<std::unique_ptr<Server>> create(ServerOptions options, ServerConfig config,
                                                std::unique_ptr<store::Store> store);
  ~Server();

  // Runs until stop() or SIGINT/SIGTERM.
  void run();
  // Thread-safe.
  void stop();
  // Re-reads the config layers and applies the reloadable settings. Runs on
  // the service thread (SIGHUP arrives there).
  Result<void> reload();

  std::string apiUrl() const;
  // The metrics listener's port (metrics_listen), 0 when it is off or could not bind.
  std::uint16_t metricsPort() const;
  std::string caPin() const;
  std::string caCertPath() const;
  const ServerConfig& config() const;
  // The admin API key, only on the start that created it.
  std::optional<std::string> newAdminKey() const;
  // Creates a join token directly (berth dev uses it for its own agent).
  // Call before run(): the store is not thread-safe.
  Result<std::string> createJoinToken(int ttl_s, const std::string& description);

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Merges file, environment and flags into a validated ServerConfig.
Result<ServerConfig> loadServerConfig(const ServerOptions& options);

}  // namespace berth::server
