#include "common/states.hpp"

#include <array>

namespace berth {
namespace {
constexpr std::array<const char*, 3> kNodeStatus{"online", "unreachable", "revoked"};
constexpr std::array<const char*, 7> kCommandState{"queued", "dispatched", "running",  "succeeded",
                                                   "failed", "expired",    "cancelled"};
constexpr std::array<const char*, 8> kDeploymentState{"pending", "pulling", "starting",  "healthy",
                                                      "failed",  "stopped", "superseded", "rolled_back"};
constexpr std::array<const char*, 3> kAppDesired{"running", "stopped", "deleting"};

template <typename Enum, std::size_t N>
std::string nameOf(const std::array<const char*, N>& names, Enum value) {
  return names[static_cast<std::size_t>(value)];
}

template <typename Enum, std::size_t N>
std::optional<Enum> parseName(const std::array<const char*, N>& names, const std::string& name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Enum>(i);
  }
  return std::nullopt;
}
}  // namespace

std::string nodeStatusName(NodeStatus status) { return nameOf(kNodeStatus, status); }
std::optional<NodeStatus> parseNodeStatus(const std::string& name) { return parseName<NodeStatus>(kNodeStatus, name); }

std::string commandStateName(CommandState state) { return nameOf(kCommandState, state); }
std::optional<CommandState> parseCommandState(const std::string& name) {
  return parseName<CommandState>(kCommandState, name);
}
bool isTerminal(CommandState state) {
  return state != CommandState::Queued && state != CommandState::Dispatched && state != CommandState::Running;
}

std::string deploymentStateName(DeploymentState state) { return nameOf(kDeploymentState, state); }
std::optional<DeploymentState> parseDeploymentState(const std::string& name) {
  return parseName<DeploymentState>(kDeploymentState, name);
}
bool isSettled(DeploymentState state) {
  return state == DeploymentState::Healthy || state == DeploymentState::Failed || state == DeploymentState::Stopped ||
         state == DeploymentState::Superseded || state == DeploymentState::RolledBack;
}
bool ranHealthy(DeploymentState state) {
  return state == DeploymentState::Healthy || state == DeploymentState::Superseded;
}

std::string appDesiredName(AppDesired desired) { return nameOf(kAppDesired, desired); }
std::optional<AppDesired> parseAppDesired(const std::string& name) { return parseName<AppDesired>(kAppDesired, name); }

}  // namespace berth
