#include "composition/agent_root.hpp"

#include "runtime/docker/docker_runtime.hpp"

namespace berth::composition {

Result<agent::AgentParts> agentParts(const agent::AgentConfig& config) {
  auto journal = agent::CommandJournal::load(config.state_dir + "/commands.json");
  if (!journal) return journal.error();
  agent::AgentParts parts;
  parts.connect_runtime = [socket = config.docker_socket]() -> Result<std::unique_ptr<runtime::ContainerRuntime>> {
    auto docker = runtime::docker::DockerRuntime::create(socket);
    if (!docker) return docker.error();
    return std::unique_ptr<runtime::ContainerRuntime>(std::move(*docker));
  };
  parts.journal = std::move(*journal);
  parts.host_reader = agent::realHostReader();
  parts.clock = systemNowMs;
  return parts;
}

Result<std::unique_ptr<agent::Agent>> makeAgent(agent::AgentConfig config) {
  auto parts = agentParts(config);
  if (!parts) return parts.error();
  return agent::Agent::create(std::move(config), std::move(*parts));
}

}  // namespace berth::composition
