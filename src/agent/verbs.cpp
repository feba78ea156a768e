#include "agent/verbs.hpp"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace berth::agent {

HostReader realHostReader() {
  return [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  };
}

nlohmann::json HostSampler::metrics(const std::string& disk_path) {
  nlohmann::json out = nlohmann::json::object();
  if (auto stat = read_("/proc/stat")) {
    if (auto cpu = parseProcStat(*stat)) {
      out["cpu_percent"] = last_cpu_ ? cpuPercent(*last_cpu_, *cpu) : 0.0;
      last_cpu_ = cpu;
    }
  }
  if (auto text = read_("/proc/meminfo")) {
    if (auto mem = parseMeminfo(*text)) {
      out["memory"] = {{"total_bytes", mem->total_bytes},
                       {"available_bytes", mem->available_bytes},
                       {"used_bytes", mem->total_bytes - mem->available_bytes},
                       {"swap_total_bytes", mem->swap_total_bytes},
                       {"swap_free_bytes", mem->swap_free_bytes}};
    }
  }
  if (auto text = read_("/proc/loadavg")) {
    if (auto load = parseLoadavg(*text)) out["load"] = {load->one, load->five, load->fifteen};
  }
  if (auto text = read_("/proc/net/dev")) {
    if (auto net = parseNetDev(*text)) {
      out["network"] = {{"rx_bytes", net->rx_bytes},
                        {"tx_bytes", net->tx_bytes},
                        {"rx_packets", net->rx_packets},
                        {"tx_packets", net->tx_packets}};
    }
  }
  struct statvfs fs {};
  if (::statvfs(disk_path.c_str(), &fs) == 0) {
    const std::uint64_t total = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    const std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    out["disk"] = {{"path", disk_path}, {"total_bytes", total}, {"free_bytes", free}, {"used_bytes", total - free}};
  }
  return out;
}

nlohmann::json HostSampler::info(const std::string& agent_version) {
  struct utsname u {};
  ::uname(&u);
  nlohmann::json out = {{"hostname", u.nodename},
                        {"kernel", std::string(u.sysname) + " " + u.release},
                        {"arch", u.machine},
                        {"agent_version", agent_version}};
  if (auto osRelease = read_("/etc/os-release")) {
    std::istringstream in(*osRelease);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("PRETTY_NAME=", 0) == 0) {
        std::string value = line.substr(12);
        if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
        out["os"] = value;
      }
    }
  }
  out["capacity"] = capacity();
  return out;
}

nlohmann::json HostSampler::capacity() {
  nlohmann::json out = nlohmann::json::object();
  if (auto stat = read_("/proc/stat")) out["cpus"] = countCpus(*stat);
  if (auto text = read_("/proc/meminfo")) {
    if (auto mem = parseMeminfo(*text)) out["memory_bytes"] = mem->total_bytes;
  }
  return out;
}

std::set<std::string> VerbRegistry::names() const {
  std::set<std::string> out;
  for (const auto& [name, handler] : handlers_) out.insert(name);
  return out;
}

VerbOutcome VerbRegistry::run(const std::string& verb, const nlohmann::json& args) const {
  auto it = handlers_.find(verb);
  if (it == handlers_.end()) {
    return VerbOutcome{false, 127, nlohmann::json::object(), "verb_not_allowed",
                       "verb '" + verb + "' is not on this agent's allowlist"};
  }
  return it->second(args);
}

Result<int> pingDelayMs(const nlohmann::json& args) {
  if (!args.contains("delay_ms")) return 0;
  const auto& v = args["delay_ms"];
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 600000) {
    return makeError("invalid_argument", "field 'args.delay_ms': must be an integer between 0 and 600000");
  }
  return static_cast<int>(v.get<std::int64_t>());
}

VerbRegistry builtinVerbs(HostSampler& sampler, const std::string& agent_version, const std::string& disk_path) {
  VerbRegistry registry;
  registry.add("ping", [](const nlohmann::json& args) {
    auto delay = pingDelayMs(args);
    if (!delay) return VerbOutcome{false, 2, nlohmann::json::object(), delay.error().code, delay.error().message};
    return VerbOutcome{true, 0, {{"pong", true}, {"delay_ms", *delay}}, "", ""};
  });
  registry.add("host.info", [&sampler, agent_version](const nlohmann::json&) {
    return VerbOutcome{true, 0, sampler.info(agent_version), "", ""};
  });
  registry.add("host.metrics", [&sampler, disk_path](const nlohmann::json&) {
    return VerbOutcome{true, 0, sampler.metrics(disk_path), "", ""};
  });
  return registry;
}

}  // namespace berth::agent
