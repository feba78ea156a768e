// The lifecycle states of nodes, commands, deployments and apps, each an enum
// with exactly one string spelling (the API, the store and the CLI all use
// these), so no file compares state strings of its own.
#pragma once

#include <optional>
#include <string>

namespace berth {

enum class NodeStatus { Online, Unreachable, Revoked };
enum class CommandState { Queued, Dispatched, Running, Succeeded, Failed, Expired, Cancelled };
// pending → pulling → starting → healthy | failed; later superseded or stopped.
// RolledBack: it went healthy, then failed inside its watch window and the node switched back.
enum class DeploymentState { Pending, Pulling, Starting, Healthy, Failed, Stopped, Superseded, RolledBack };
enum class AppDesired { Running, Stopped, Deleting };

std::string nodeStatusName(NodeStatus status);
std::optional<NodeStatus> parseNodeStatus(const std::string& name);

std::string commandStateName(CommandState state);
std::optional<CommandState> parseCommandState(const std::string& name);
// Succeeded, failed, expired or cancelled: nothing will change it again.
bool isTerminal(CommandState state);

std::string deploymentStateName(DeploymentState state);
std::optional<DeploymentState> parseDeploymentState(const std::string& name);
// Healthy, failed, stopped or superseded: no progress event may overwrite it.
bool isSettled(DeploymentState state);
// Healthy or superseded: it ran, so it can be rolled back to.
bool ranHealthy(DeploymentState state);

std::string appDesiredName(AppDesired desired);
std::optional<AppDesired> parseAppDesired(const std::string& name);

}  // namespace berth
