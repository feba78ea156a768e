// berth agent: dials out to the control plane over mutual TLS, holds one
// WebSocket session, answers heartbeats, sends telemetry, runs signed
// allowlisted commands, reconnects with capped exponential backoff and
// jitter, and renews its certificate before it expires. Never listens.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"

namespace berth::agent {

struct AgentConfig {
  std::string state_dir = "./berth-agent";
  std::string server_url;  // needed only to enrol; later taken from the state
  std::string join_token;
  std::string ca_pin;
  std::string site;
  nlohmann::json labels = nlohmann::json::object();
  std::string log_level = "info";
  int clock_skew_s = 60;
  int max_envelope_lifetime_s = 600;
  int max_frame_bytes = 1 << 20;
  int backoff_cap_s = 60;
  bool handle_signals = true;
  // Apps: the container runtime and the resources kept back from apps.
  std::string docker_socket = "/var/run/docker.sock";
  std::string docker_network;  // "" = the daemon's default bridge
  int reconcile_interval_s = 10;
  std::int64_t reserved_cpu_millicores = 0;
  std::int64_t reserved_memory_bytes = 0;
};

// The keys accepted in the agent's config file, BERTH_* variables and flags.
const std::vector<std::string>& agentConfigKeys();
Result<AgentConfig> agentConfigFromJson(const nlohmann::json& merged);

class Agent {
 public:
  // Loads the enrolled state, or enrols with server_url/join_token/ca_pin.
  static Result<std::unique_ptr<Agent>> create(AgentConfig config);
  ~Agent();
  void run();
  // Thread-safe.
  void stop();
  std::string nodeId() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::agent
