// What an enrolled agent keeps on disk: its node id, certificates, the
// server's signing key, and its private key sealed (encrypted) at rest.
// <state_dir>/agent.json (0600) plus <state_dir>/seal.key (0600).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::agent {

struct AgentState {
  std::string node_id;
  std::string server_url;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;             // plaintext only in memory
  std::string signing_public_key;  // raw 32 bytes
  std::int64_t cert_not_after = 0;
};

Result<void> saveAgentState(const std::string& state_dir, const AgentState& state);
// nullopt when the agent has not enrolled yet.
Result<std::optional<AgentState>> loadAgentState(const std::string& state_dir);

}  // namespace berth::agent
