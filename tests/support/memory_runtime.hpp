// An in-memory ContainerRuntime for tests: containers, images, volumes and
// logs held in maps, behaving as the Docker runtime does wherever
// tests/support/runtime_conformance.hpp looks (that suite runs against both,
// so the two cannot drift apart).
//
// A container "runs" its command when started: `sh -c SCRIPT` (argv[0] or
// argv[1] named sh) runs SCRIPT's statements, separated by ';' or newlines:
// `echo TEXT` (to stderr with `>&2`), `exit N`, and `sleep N`, which keeps the
// container running until it is stopped (there is no time here). A script that
// ends exits 0; any other command (or none) runs until stopped. A stop exits
// 137, as a process that ignores SIGTERM does under Docker.
// Not modelled: restart policies, networks and ports (ip_address is empty),
// processes (pid stays 0), resource use (stats are zero), what a build runs
// (a build only tags a new image and streams one step line).
//
// Thread-safe: every call takes one mutex; log handlers are posted to their
// executor. Tests read and change the public members only while no other
// thread calls in.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::testing {

class MemoryRuntime final : public runtime::ContainerRuntime {
 public:
  struct Image {
    std::string id;  // sha256:...
    std::vector<std::string> digests;  // repo@sha256:...
    std::map<std::string, std::string> labels;  // a build's labels
  };
  struct RegistryImage {
    Image image;
    std::string password;  // non-empty: a pull needs these credentials
  };

  explicit MemoryRuntime(Clock clock = systemNowMs) : clock_(std::move(clock)) {}

  // ---- what tests set up and look at ----
  std::map<std::string, Image> images;                   // local, by reference (tag, digest or id)
  std::map<std::string, RegistryImage> registry;         // what a pull of a reference fetches
  std::map<std::string, runtime::ContainerInfo> containers;  // by id
  std::map<std::string, runtime::ContainerSpec> specs;   // by container id, as created
  std::vector<std::string> pulls, removed_images, removed_volumes;
  std::vector<std::string> registry_checks;  // checkRegistryAccess's references
  int pull_progress_reports = 1;  // how many progress reports a pull hands its handler
  std::function<void()> after_pull;  // runs once a pull has landed (a disk that fills meanwhile)
  std::set<std::string> networks;  // ensureNetwork's
  int exec_exit = 0;  // exit code of exec'd commands other than `sh -c` scripts
  // Builds: each one is recorded; one with build_error set fails with it,
  // otherwise the tag gets a new image whose id is "sha256:built-<n>".
  std::vector<runtime::BuildRequest> builds;
  std::string build_error;
  bool down = false;  // dockerd unreachable: every call fails "runtime_unavailable" as the Docker client does
  std::vector<runtime::ContainerInfo> running() const;

  // ---- ContainerRuntime ----
  Result<std::string> apiVersion() override;
  Result<std::optional<std::string>> imageId(const std::string& reference) override;
  Result<std::string> create(const runtime::ContainerSpec& spec) override;
  Result<void> start(const std::string& id) override;
  Result<void> stop(const std::string& id, int timeout_s) override;
  Result<void> remove(const std::string& id, bool force) override;
  Result<std::optional<runtime::ContainerInfo>> inspect(const std::string& id) override;
  Result<std::vector<std::string>> list(const std::map<std::string, std::string>& labels) override;
  using runtime::ContainerRuntime::pull;
  Result<void> checkRegistryAccess(const std::string& reference,
                                   const std::optional<runtime::RegistryCredentials>& auth) override;
  Result<void> pull(const std::string& reference, const std::optional<runtime::RegistryCredentials>& auth,
                    const runtime::PullProgressHandler& on_progress) override;
  Result<std::optional<runtime::ImageInfo>> inspectImage(const std::string& reference) override;
  Result<void> removeImage(const std::string& reference) override;
  Result<std::vector<runtime::ImageInfo>> listImages(const std::map<std::string, std::string>& labels) override;
  Result<void> removeVolume(const std::string& name) override;
  Result<void> ensureNetwork(const std::string& name) override;
  Result<void> update(const std::string& id, const runtime::Resources& resources) override;
  Result<int> exec(const std::string& id, const std::vector<std::string>& argv, int timeout_ms) override;
  Result<runtime::ContainerStats> stats(const std::string& id) override;
  Result<std::string> build(const runtime::BuildRequest& request, const runtime::StreamMessageHandler& on_message,
                            const std::atomic<bool>* cancel) override;
  std::unique_ptr<runtime::LogSubscription> followLogs(boost::asio::any_io_executor executor, const std::string& id,
                                                       std::int64_t since_ms, runtime::LogLinesHandler on_lines,
                                                       runtime::LogEndHandler on_end) override;

 private:
  struct Follower {
    boost::asio::any_io_executor executor;
    runtime::LogLinesHandler on_lines;
    runtime::LogEndHandler on_end;
    std::shared_ptr<std::atomic<bool>> active;  // cleared by the subscription's stop()
  };
  // The container `id_or_name` names, or nullptr.
  runtime::ContainerInfo* findLocked(const std::string& id_or_name);
  const Image* imageLocked(const std::string& reference) const;
  void runLocked(runtime::ContainerInfo& c);
  void writeLocked(const std::string& id, const std::string& stream, const std::string& text);
  void exitLocked(runtime::ContainerInfo& c, int code, const std::string& reason);
  std::int64_t nowLocked();

  Clock clock_;
  mutable std::mutex mutex_;
  int next_id_ = 0;
  std::int64_t last_ms_ = 0;  // log stamps strictly increase, so `since` can tell any two lines apart
  std::map<std::string, std::vector<runtime::LogLine>> logs_;  // by container id
  std::map<std::string, std::vector<Follower>> followers_;     // by container id, while it runs
};

}  // namespace berth::testing
