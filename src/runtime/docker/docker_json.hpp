// Docker Engine API JSON <-> runtime types. Pure: unit-tested on literal JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::runtime::docker {

// Body of POST /containers/create, hardened by default: no-new-privileges,
// every capability dropped but the spec's, the default seccomp profile (not
// overridden), a pids limit.
nlohmann::json createBody(const ContainerSpec& spec);
// GET /containers/{id}/json -> ContainerInfo.
Result<ContainerInfo> parseInspect(const nlohmann::json& body);
// The "filters" query value selecting containers by labels.
std::string labelFilter(const std::map<std::string, std::string>& labels);
// min(server's ApiVersion, ours), from GET /version.
Result<std::string> negotiateVersion(const nlohmann::json& version_body, const std::string& ours);

}  // namespace berth::runtime::docker
