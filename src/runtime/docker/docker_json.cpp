#include "runtime/docker/docker_json.hpp"

#include "runtime/docker/json_messages.hpp"
#include "common/json.hpp"

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
  if (spec.memory_bytes > 0 && spec.memory_swap_bytes >= 0) host["MemorySwap"] = spec.memory_bytes + spec.memory_swap_bytes;
  if (spec.cpu_millicores > 0) host["NanoCpus"] = spec.cpu_millicores * 1'000'000;
  if (spec.cpu_shares > 0) host["CpuShares"] = spec.cpu_shares;
  if (spec.disk_bytes > 0) host["StorageOpt"] = {{"size", std::to_string(spec.disk_bytes)}};
  if (!spec.network.empty()) host["NetworkMode"] = spec.network;
  if (spec.restart_unless_stopped) host["RestartPolicy"] = {{"Name", "unless-stopped"}};
  // Bounded on disk whatever the daemon's default driver is: a chatty app rotates, it does not fill /var.
  host["LogConfig"] = {{"Type", "json-file"},
                       {"Config", {{"max-size", spec.log_max_size}, {"max-file", std::to_string(spec.log_max_files)}}}};
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& [name, path] : spec.volumes) mounts.push_back({{"Type", "volume"}, {"Source", name}, {"Target", path}});
  if (!mounts.empty()) host["Mounts"] = mounts;
  nlohmann::json body = {{"Image", spec.image}, {"Env", env}, {"Labels", spec.labels}, {"HostConfig", host}};
  if (spec.container_port) {
    const std::string port = std::to_string(spec.container_port) + "/tcp";
    body["ExposedPorts"] = {{port, nlohmann::json::object()}};
    if (spec.host_port) {
      body["HostConfig"]["PortBindings"] = {{port, {{{"HostIp", spec.host_ip}, {"HostPort", std::to_string(spec.host_port)}}}}};
    }
  }
  if (!spec.command.empty()) body["Cmd"] = spec.command;
  if (!spec.user.empty()) body["User"] = spec.user;
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
    info.user = config.value("User", std::string());
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
    if (host.contains("CpuShares") && host["CpuShares"].is_number_integer()) info.cpu_shares = host["CpuShares"];
    info.read_only_root = host.value("ReadonlyRootfs", false);
    if (host.contains("MemorySwap") && host["MemorySwap"].is_number()) info.memory_swap_bytes = host["MemorySwap"];
    info.pid = state.value("Pid", 0);
    info.exit_code = state.value("ExitCode", 0);
    if (body.contains("NetworkSettings") && body["NetworkSettings"].is_object()) {
      const auto& ns = body["NetworkSettings"];
      if (ns.contains("Networks") && ns["Networks"].is_object()) {
        for (const auto& [name, net] : ns["Networks"].items()) {
          if (net.is_object() && !net.value("IPAddress", std::string()).empty()) {
            info.ip_address = net["IPAddress"];
            break;
          }
        }
      }
    }
    return info;
  } catch (const nlohmann::json::exception& e) {
    return makeError("runtime_error", std::string("unexpected container JSON from dockerd: ") + e.what());
  }
}

nlohmann::json updateBody(const Resources& r) {
  nlohmann::json body = {{"Memory", r.memory_bytes}, {"NanoCpus", r.cpu_millicores * 1'000'000}};
  // MemorySwap must be given with Memory; -1 lifts the swap limit.
  body["MemorySwap"] = r.memory_bytes > 0 && r.memory_swap_bytes >= 0 ? r.memory_bytes + r.memory_swap_bytes : -1;
  if (r.memory_bytes == 0) body["MemorySwap"] = -1;
  if (r.pids_limit > 0) body["PidsLimit"] = r.pids_limit;
  if (r.cpu_shares > 0) body["CpuShares"] = r.cpu_shares;
  return body;
}

std::optional<std::string> pullStreamError(const std::string& body) {
  JsonMessageSplitter splitter;
  PullProgress progress;
  for (const auto& message : splitter.feed(body + "\n")) progress.apply(message);
  return progress.error();
}

namespace {
// An array of strings under `key` ("<none>:<none>", Docker's word for no tag, left out).
std::vector<std::string> stringsOf(const nlohmann::json& object, const char* key) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& item : *it) {
    if (item.is_string() && item.get<std::string>() != "<none>:<none>" && item.get<std::string>() != "<none>@<none>")
      out.push_back(item);
  }
  return out;
}

std::map<std::string, std::string> labelsOf(const nlohmann::json& object) {
  std::map<std::string, std::string> out;
  auto it = object.find("Labels");
  if (it == object.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}
}  // namespace

Result<ImageInfo> parseImageInspect(const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("Id") || !body["Id"].is_string())
    return makeError("runtime_error", "image inspect: no Id in the answer");
  ImageInfo info;
  info.id = body["Id"];
  info.repo_digests = stringsOf(body, "RepoDigests");
  info.repo_tags = stringsOf(body, "RepoTags");
  auto config = body.find("Config");
  info.labels = labelsOf(config != body.end() && config->is_object() ? *config : nlohmann::json::object());
  return info;
}

Result<ImageInfo> parseImageSummary(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("Id") || !entry["Id"].is_string())
    return makeError("runtime_error", "image list: an entry without Id");
  ImageInfo info;
  info.id = entry["Id"];
  info.repo_digests = stringsOf(entry, "RepoDigests");
  info.repo_tags = stringsOf(entry, "RepoTags");
  info.labels = labelsOf(entry);
  return info;
}

ContainerStats parseStats(const nlohmann::json& s) {
  ContainerStats out;
  if (!s.is_object()) return out;
  auto num = [](const nlohmann::json& j, const char* key) -> std::int64_t {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<std::int64_t>() : 0;
  };
  const auto cpu = s.value("cpu_stats", nlohmann::json::object());
  const auto pre = s.value("precpu_stats", nlohmann::json::object());
  const auto usage = num(cpu.value("cpu_usage", nlohmann::json::object()), "total_usage") -
                     num(pre.value("cpu_usage", nlohmann::json::object()), "total_usage");
  const auto system = num(cpu, "system_cpu_usage") - num(pre, "system_cpu_usage");
  const auto cpus = std::max<std::int64_t>(1, num(cpu, "online_cpus"));
  out.cpu_total_ns = num(cpu.value("cpu_usage", nlohmann::json::object()), "total_usage");
  out.system_total_ns = num(cpu, "system_cpu_usage");
  out.online_cpus = static_cast<int>(cpus);
  if (usage > 0 && system > 0) out.cpu_percent = 100.0 * static_cast<double>(usage) / static_cast<double>(system) * cpus;
  const auto mem = s.value("memory_stats", nlohmann::json::object());
  out.memory_bytes = num(mem, "usage");
  if (s.contains("networks") && s["networks"].is_object()) {
    for (const auto& [name, n] : s["networks"].items()) {
      out.net_rx_bytes += num(n, "rx_bytes");
      out.net_tx_bytes += num(n, "tx_bytes");
    }
  }
  const auto blkio = s.value("blkio_stats", nlohmann::json::object());
  if (blkio.contains("io_service_bytes_recursive") && blkio["io_service_bytes_recursive"].is_array()) {
    for (const auto& e : blkio["io_service_bytes_recursive"]) {
      const std::string op = e.value("op", std::string());
      if (op == "Read" || op == "read") out.block_read_bytes += num(e, "value");
      if (op == "Write" || op == "write") out.block_write_bytes += num(e, "value");
    }
  }
  return out;
}

std::string labelFilter(const std::map<std::string, std::string>& labels) {
  nlohmann::json values = nlohmann::json::array();
  for (const auto& [k, v] : labels) values.push_back(v.empty() ? k : k + "=" + v);  // "key": any value
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
