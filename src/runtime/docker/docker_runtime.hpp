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
  using ContainerRuntime::pull;
  // The pull's JSON messages are read as they arrive (image_pull.cpp).
  Result<void> checkRegistryAccess(const std::string& reference, const std::optional<RegistryCredentials>& auth) override;
  Result<void> pull(const std::string& reference, const std::optional<RegistryCredentials>& auth,
                    const PullProgressHandler& on_progress) override;
  Result<std::optional<ImageInfo>> inspectImage(const std::string& reference) override;
  Result<void> removeImage(const std::string& reference) override;
  Result<std::vector<ImageInfo>> listImages(const std::map<std::string, std::string>& labels) override;
  Result<void> removeVolume(const std::string& name) override;
  Result<void> ensureNetwork(const std::string& name) override;
  Result<std::string> networkGateway(const std::string& name) override;
  Result<void> update(const std::string& id, const Resources& resources) override;
  Result<int> exec(const std::string& id, const std::vector<std::string>& argv, int timeout_ms) override;
  Result<ContainerStats> stats(const std::string& id) override;
  Result<std::string> build(const BuildRequest& request, const StreamMessageHandler& on_message,
                            const std::atomic<bool>* cancel) override;
  // One follow=1 logs request per call (a LogFollower on `executor`).
  std::unique_ptr<LogSubscription> followLogs(boost::asio::any_io_executor executor, const std::string& id,
                                              std::int64_t since_ms, LogLinesHandler on_lines,
                                              LogEndHandler on_end) override;

  struct Reply {
    int status = 0;
    std::string body;
  };
  // One request on a fresh connection; `target` without the /vX.Y prefix.
  // A call that gets no answer within `timeout_s` fails "runtime_unavailable".
  Result<Reply> request(const std::string& method, const std::string& target, const std::string& body = "",
                        const std::string& content_type = "application/json",
                        const std::map<std::string, std::string>& headers = {}, int timeout_s = 120);

 private:
  DockerRuntime(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  std::string versioned(const std::string& target) const { return version_.empty() ? target : "/v" + version_ + target; }
  std::string socket_path_;
  std::string version_;
};

// Percent-encodes a query value.
std::string urlEncode(const std::string& text);
// "host:5000/repo:tag" -> {"host:5000/repo", "tag"}; a digest stays whole
// ("repo@sha256:..." -> {"repo", "sha256:..."}); no tag -> "latest".
std::pair<std::string, std::string> splitReference(const std::string& reference);

}  // namespace berth::runtime::docker
