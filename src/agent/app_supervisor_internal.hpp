// Private to the AppSupervisor's source files (app_supervisor.cpp, app_deploy.cpp,
// app_lifecycle.cpp): the container labels and the small helpers they share.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/app_supervisor.hpp"

namespace berth::agent::supervisor_internal {

using SteadyClock = std::chrono::steady_clock;
inline constexpr const char* kManaged = "berth.managed";
inline constexpr const char* kApp = "berth.app";
inline constexpr const char* kDeployment = "berth.deployment";
inline constexpr const char* kDeploymentId = "berth.deployment_id";
inline constexpr const char* kReplica = "berth.replica";
inline constexpr const char* kNode = "berth.node";
// A container built from git gets the full commit it runs in this variable (docs/builds.md).
inline constexpr const char* kCommitEnv = "BERTH_GIT_COMMIT";
// Without a health check a container counts as healthy once it has stayed up this long.
inline constexpr auto kSettleTime = std::chrono::milliseconds(1000);
// While a container starts it is probed this often (or at its interval when shorter).
inline constexpr int kStartupProbeInterval = 100;
// Docker's (and the kernel's) default CPU weight, which a new version gets once it serves.
inline constexpr std::int64_t kDefaultCpuShares = 1024;
// Whether `c` still has the weight a new version starts with beside a serving one (the only
// weight berth sets other than the default).
bool hasStartupCpuWeight(const runtime::ContainerInfo& c);
// Pull progress goes to the server at most this often (the last state of a pull is its "starting" event).
inline constexpr std::int64_t kPullProgressIntervalMs = 250;

inline VerbOutcome fail(const std::string& code, const std::string& message) {
  VerbOutcome out;
  out.ok = false;
  out.exit_code = 1;
  out.error_code = code;
  out.error_message = message;
  return out;
}

inline VerbOutcome fail(const Error& error) { return fail(error.code, error.message); }

inline int labelInt(const runtime::ContainerInfo& c, const char* key) {
  auto it = c.labels.find(key);
  if (it == c.labels.end()) return -1;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return -1;
  }
}

inline std::string appArg(const nlohmann::json& args) {
  return args.is_object() && args.contains("app") && args["app"].is_string() ? args["app"].get<std::string>() : "";
}

}  // namespace berth::agent::supervisor_internal
