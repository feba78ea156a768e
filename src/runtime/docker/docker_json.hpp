// Docker Engine API JSON <-> runtime types. Pure: unit-tested on literal JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
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
// Body of POST /containers/{id}/update.
nlohmann::json updateBody(const Resources& resources);
// POST /images/create answers 200 and reports failures inside its JSON-lines
// progress stream; the first error message, if any.
std::optional<std::string> pullStreamError(const std::string& body);
Result<ImageInfo> parseImageInspect(const nlohmann::json& body);
// One entry of GET /images/json.
Result<ImageInfo> parseImageSummary(const nlohmann::json& entry);
// GET /containers/{id}/stats?stream=0 -> figures (CPU from the two samples it carries).
ContainerStats parseStats(const nlohmann::json& body);
// The "filters" query value selecting containers by labels.
std::string labelFilter(const std::map<std::string, std::string>& labels);
// min(server's ApiVersion, ours), from GET /version.
Result<std::string> negotiateVersion(const nlohmann::json& version_body, const std::string& ours);

}  // namespace berth::runtime::docker
