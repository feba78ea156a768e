// ContainerRuntime over the Docker Engine API: HTTP/1.1 on dockerd's unix
// socket (no `docker` CLI), API version negotiated at create().
#pragma once

#include <memory>
#include <string>

#include "runtime/container_runtime.hpp"

namespace berth::runtime::docker {

inline constexpr const char* kOurApiVersion = "1.41";

class DockerRuntime final : public ContainerRuntime {
 public:
  // Connects to `socket_path` (e.g. /var/run/docker.sock) and negotiates the version.
  static Result<std::unique_ptr<DockerRuntime>> create(const std::string& socket_path);

  Result<std::string> apiVersion() override { return version_; }
  Result<std::optional<std::string>> imageId(const std::string& reference) override;
  Result<std::string> create(const ContainerSpec& spec) override;
  Result<void> start(const std::string& id) override;
  Result<void> stop(const std::string& id, int timeout_s) override;
  Result<void> remove(const std::string& id, bool force) override;
  Result<std::optional<ContainerInfo>> inspect(const std::string& id) override;
  Result<std::vector<std::string>> list(const std::map<std::string, std::string>& labels) override;

  struct Reply {
    int status = 0;
    std::string body;
  };
  // One request on a fresh connection; `target` without the /vX.Y prefix.
  Result<Reply> request(const std::string& method, const std::string& target, const std::string& body = "",
                        const std::string& content_type = "application/json");

 private:
  DockerRuntime(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  std::string socket_path_;
  std::string version_;
};

// Percent-encodes a query value.
std::string urlEncode(const std::string& text);

}  // namespace berth::runtime::docker
