// The simulated fleet: many agent sessions and REST load generators in one
// process on one Asio thread, against any hub that speaks berth-agent-v1.
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/ws_channel.hpp"

namespace berth::bench {

struct FleetTarget {
  std::string host = "127.0.0.1";
  std::string port;
  std::string api_key;
  // Sessions dial from 127.0.0.1 .. 127.0.0.N in turn: one source address has ~28,000 ephemeral
  // ports towards one server port, fewer than a 30,000-session run needs.
  std::size_t source_addresses = 1;
};

struct SimAgent {
  std::string node_id;
  std::string cert_pem;
  std::shared_ptr<net::WsChannel> channel;
  bool welcomed = false;
  std::int64_t telemetry_seq = 0;  // the server refuses TELEMETRY whose seq does not grow
};

class Fleet {
 public:
  // `ca_pem` verifies the hub; every agent presents its own certificate
  // signed for its node id, all sharing `key_pem`.
  Fleet(FleetTarget target, const std::string& ca_pem, const std::string& key_pem,
        std::vector<std::pair<std::string, std::string>> identities);

  // Opens every session (HELLO -> WELCOME) with at most `parallel` handshakes at once.
  // Returns how many were welcomed.
  std::size_t connectAll(std::size_t parallel, std::chrono::seconds timeout);
  // Each of the first `agents` agents keeps up to 4 TELEMETRY frames queued for `duration`.
  void blastTelemetry(std::size_t agents, std::chrono::seconds duration);
  // `connections` keep-alive HTTPS clients POST ping commands to the first
  // `agents` agents for `duration`. Latencies are POST sent -> COMMAND at the agent.
  void commandLoad(std::size_t agents, std::size_t connections, std::chrono::seconds duration);
  // Reconnect storm: waits until every session has dropped (the hub was
  // killed), then each agent redials on `berth agent`'s own schedule
  // (agent::reconnectDelay: jittered exponential backoff, 15 s cap) until
  // welcomed again or `timeout`. Returns the figures from the first drop.
  struct StormFigures {
    std::size_t welcomed = 0;
    std::chrono::steady_clock::time_point all_back_at{};  // default: not all came back in time
    std::uint64_t failed_attempts = 0;
    std::chrono::steady_clock::time_point last_failure_at{};  // the last dial refused or failed
  };
  StormFigures reconnectStorm(std::chrono::seconds timeout);
  // Progress of the storm under way, read from another thread for the timeline.
  std::atomic<std::size_t> storm_back{0};
  std::atomic<std::uint64_t> storm_failures{0};
  // Sends HEARTBEATs from every session (keeps them alive across long phases).
  void heartbeatAll();
  void closeAll();

  std::vector<double> latencies_ms;
  std::uint64_t commands_posted = 0;
  std::uint64_t commands_received = 0;
  std::uint64_t post_errors = 0;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "GET /metrics" from the hub with target.api_key; the value of the series named exactly `series`.
double scrapeMetric(const FleetTarget& target, const std::string& ca_pem, const std::string& series);

}  // namespace berth::bench
