#include "runtime/docker/docker_json.hpp"

#include <sstream>

namespace berth::runtime::docker {
namespace {

// "1.41" -> {1, 41}; {0, 0} when malformed.
std::pair<int, int> versionParts(const std::string& v) {
  auto dot = v.find('.');
  if (dot == std::string::npos) return {0, 0};
  try {
    return {std::stoi(v.substr(0, dot)), std::stoi(v.substr(dot + 1))};
  } catch (...) {
    return {0, 0};
  }
}

}  // namespace

nlohmann::json createBody(const ContainerSpec& spec) {
  nlohmann::json env = nlohmann::json::array();
  for (const auto& [k, v] : spec.env) env.push_back(k + "=" + v);
  nlohmann::json host = {{"SecurityOpt", {"no-new-privileges"}},
                         {"CapDrop", {"ALL"}},
                         {"CapAdd", spec.add_capabilities},
                         {"PidsLimit", spec.pids_limit},
                         {"ReadonlyRootfs", spec.read_only_root}};
  if (spec.memory_bytes > 0) host["Memory"] = spec.memory_bytes;
  if (spec.cpu_millicores > 0) host["NanoCpus"] = spec.cpu_millicores * 1'000'000;
  nlohmann::json body = {{"Image", spec.image}, {"Env", env}, {"Labels", spec.labels}, {"HostConfig", host}};
  if (!spec.command.empty()) body["Cmd"] = spec.command;
  return body;
}

Result<ContainerInfo> parseInspect(const nlohmann::json& body) {
  try {
    ContainerInfo info;
    info.id = body.at("Id");
    info.name = body.value("Name", std::string());
    if (!info.name.empty() && info.name.front() == '/') info.name.erase(0, 1);
    info.image_id = body.value("Image", std::string());
    const auto& state = body.at("State");
    info.state = state.value("Status", std::string());
    info.started_at = state.value("StartedAt", std::string());
    const auto& config = body.at("Config");
    if (config.contains("Labels") && config["Labels"].is_object()) {
      for (auto it = config["Labels"].begin(); it != config["Labels"].end(); ++it) info.labels[it.key()] = it.value();
    }
    const auto& host = body.at("HostConfig");
    if (host.contains("SecurityOpt") && host["SecurityOpt"].is_array()) {
      for (const auto& opt : host["SecurityOpt"]) info.no_new_privileges |= opt == "no-new-privileges";
    }
    if (host.contains("CapDrop") && host["CapDrop"].is_array()) {
      for (const auto& cap : host["CapDrop"]) info.dropped_capabilities.push_back(cap);
    }
    if (host.contains("PidsLimit") && host["PidsLimit"].is_number()) info.pids_limit = host["PidsLimit"];
    info.memory_bytes = host.value("Memory", std::int64_t{0});
    info.nano_cpus = host.value("NanoCpus", std::int64_t{0});
    info.read_only_root = host.value("ReadonlyRootfs", false);
    return info;
  } catch (const nlohmann::json::exception& e) {
    return makeError("runtime_error", std::string("unexpected container JSON from dockerd: ") + e.what());
  }
}

std::string labelFilter(const std::map<std::string, std::string>& labels) {
  nlohmann::json values = nlohmann::json::array();
  for (const auto& [k, v] : labels) values.push_back(k + "=" + v);
  return nlohmann::json{{"label", values}}.dump();
}

Result<std::string> negotiateVersion(const nlohmann::json& version_body, const std::string& ours) {
  if (!version_body.is_object() || !version_body.contains("ApiVersion") || !version_body["ApiVersion"].is_string()) {
    return makeError("runtime_error", "dockerd did not report an ApiVersion");
  }
  const std::string theirs = version_body["ApiVersion"];
  const std::string minimum = version_body.value("MinAPIVersion", std::string("1.12"));
  const auto chosen = versionParts(theirs) < versionParts(ours) ? theirs : ours;
  if (versionParts(chosen) < versionParts(minimum)) {
    return makeError("runtime_error", "dockerd needs API " + minimum + " or later; berth speaks up to " + ours);
  }
  return chosen;
}

}  // namespace berth::runtime::docker
