// The container runtime interface the agent drives. Docker (runtime/docker) is
// the first implementation; tests/integration/docker_runtime_test.cpp runs it
// against a real dockerd. Calls block; use from one thread per instance.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::runtime {

struct ContainerSpec {
  std::string name;
  std::string image;                 // reference or image id
  std::vector<std::string> command;  // argv; empty = the image's default
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::vector<std::string> add_capabilities;  // everything else is dropped
  bool read_only_root = false;
  std::int64_t memory_bytes = 0;    // 0 = unlimited
  std::int64_t cpu_millicores = 0;  // 0 = unlimited
  std::int64_t pids_limit = 512;
};

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image_id;
  std::string state;       // created, running, exited, ...
  std::string started_at;  // RFC 3339 as the runtime reports it
  std::map<std::string, std::string> labels;
  bool no_new_privileges = false;
  std::vector<std::string> dropped_capabilities;
  std::int64_t pids_limit = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t nano_cpus = 0;
  bool read_only_root = false;
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;
  // The negotiated API version, e.g. "1.41".
  virtual Result<std::string> apiVersion() = 0;
  // The image's id, or nullopt when it is not present locally.
  virtual Result<std::optional<std::string>> imageId(const std::string& reference) = 0;
  virtual Result<std::string> create(const ContainerSpec& spec) = 0;
  virtual Result<void> start(const std::string& id) = 0;
  // Stopping a stopped container succeeds and changes nothing.
  virtual Result<void> stop(const std::string& id, int timeout_s) = 0;
  virtual Result<void> remove(const std::string& id, bool force) = 0;
  // nullopt when no such container.
  virtual Result<std::optional<ContainerInfo>> inspect(const std::string& id) = 0;
  // Ids of containers (running or not) carrying every label in `labels`.
  virtual Result<std::vector<std::string>> list(const std::map<std::string, std::string>& labels) = 0;
};

}  // namespace berth::runtime
