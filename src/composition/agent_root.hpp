// The composition root of the agent role (`berth agent`, and the agent inside
// `berth dev`): the one place that picks the agent's concrete parts — the
// Docker runtime on the configured socket, the command journal in the state
// directory, the host's /proc — and hands them to agent::Agent.
#pragma once

#include <memory>

#include "agent/agent.hpp"

namespace berth::composition {

// The production parts for `config`; fails when the command journal is damaged.
// `certificates` (optional) is where the proxy's HTTPS certificates come from
// (`berth dev` passes its local CA).
Result<agent::AgentParts> agentParts(const agent::AgentConfig& config,
                                     std::shared_ptr<agent::CertificateProvider> certificates = nullptr);
// agentParts, then agent::Agent::create (which enrols when needed).
Result<std::unique_ptr<agent::Agent>> makeAgent(agent::AgentConfig config,
                                                std::shared_ptr<agent::CertificateProvider> certificates = nullptr);

}  // namespace berth::composition
