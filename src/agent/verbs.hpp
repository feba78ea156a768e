// The verbs this agent runs, behind one registry. Each verb is a function from
// JSON args to an outcome; none runs a shell. The host is read through a
// HostReader so tests can feed literal /proc contents.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "agent/proc_parsers.hpp"
#include "common/result.hpp"

namespace berth::agent {

struct VerbOutcome {
  bool ok = true;
  int exit_code = 0;
  nlohmann::json output = nlohmann::json::object();
  std::string error_code;
  std::string error_message;
};

// Reads a file under the host root ("/proc/stat" etc.); nullopt when missing.
using HostReader = std::function<std::optional<std::string>(const std::string& path)>;
HostReader realHostReader();

class HostSampler {
 public:
  explicit HostSampler(HostReader reader) : read_(std::move(reader)) {}
  // CPU, memory, disk (of `disk_path`), network and load.
  nlohmann::json metrics(const std::string& disk_path);
  nlohmann::json info(const std::string& agent_version);
  nlohmann::json capacity();

 private:
  HostReader read_;
  std::optional<CpuTimes> last_cpu_;
};

class VerbRegistry {
 public:
  using Handler = std::function<VerbOutcome(const nlohmann::json& args)>;
  void add(const std::string& verb, Handler handler) { handlers_[verb] = std::move(handler); }
  std::set<std::string> names() const;
  // Fails with verb_not_allowed for an unknown verb.
  VerbOutcome run(const std::string& verb, const nlohmann::json& args) const;

 private:
  std::map<std::string, Handler> handlers_;
};

// ping, host.info, host.metrics.
VerbRegistry builtinVerbs(HostSampler& sampler, const std::string& agent_version, const std::string& disk_path);

// Validates ping's optional args.delay_ms (0..600000); the runner waits that long
// before answering, which lets tests hold a command in flight.
Result<int> pingDelayMs(const nlohmann::json& args);

}  // namespace berth::agent
