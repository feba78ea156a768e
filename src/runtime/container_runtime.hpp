// The container runtime interface the agent drives. Docker (runtime/docker) is
// the first implementation; tests/support/memory_runtime is the in-memory one
// tests use. tests/support/runtime_conformance.hpp is the behaviour both must
// show (run against a real dockerd by tests/integration and against the fake by
// tests/unit). Every call but followLogs blocks and may run on any thread; an
// implementation makes each call on its own (Docker: its own connection).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::string user;                 // empty = the image's USER
  std::int64_t memory_bytes = 0;    // 0 = unlimited
  std::int64_t cpu_millicores = 0;  // 0 = unlimited
  std::int64_t cpu_shares = 0;      // relative CPU weight when cores are contended; 0 = the runtime's default (1024)
  std::int64_t pids_limit = 512;
  std::int64_t memory_swap_bytes = -1;  // -1 = runtime default; 0 = no swap
  std::int64_t disk_bytes = 0;          // 0 = unlimited; needs driver support
  std::string network;                  // empty = the runtime's default
  std::uint16_t container_port = 0;     // exposed port
  std::uint16_t host_port = 0;          // published on the host when non-zero
  std::string host_ip = "127.0.0.1";    // the host address host_port binds ("" = every address)
  std::map<std::string, std::string> volumes;  // named volume -> mount path
  bool restart_unless_stopped = true;
  // Docker's json-file log, rotated: at most log_max_files files of log_max_size ("10m") each.
  std::string log_max_size = "10m";
  int log_max_files = 3;
};

// Resources that can change on a running container.
struct Resources {
  std::int64_t memory_bytes = 0;
  std::int64_t memory_swap_bytes = -1;
  std::int64_t cpu_millicores = 0;
  std::int64_t pids_limit = 0;
  std::int64_t cpu_shares = 0;  // 0 = left as it is
};

struct RegistryCredentials {
  std::string username;
  std::string password;
  std::string server;  // registry host[:port]
};

struct ImageInfo {
  std::string id;                         // sha256:...
  std::vector<std::string> repo_digests;  // repo@sha256:..., empty for local-only images
  std::vector<std::string> repo_tags;     // repo:tag names it carries
  std::map<std::string, std::string> labels;  // the image's own labels (a build's)
};

struct ContainerStats {
  double cpu_percent = 0;  // of one core, when the sample carries a previous reading
  std::int64_t cpu_total_ns = 0;     // cumulative, for rates across samples
  std::int64_t system_total_ns = 0;  // cumulative host CPU time
  int online_cpus = 1;
  std::int64_t memory_bytes = 0;
  std::int64_t net_rx_bytes = 0;
  std::int64_t net_tx_bytes = 0;
  std::int64_t block_read_bytes = 0;
  std::int64_t block_write_bytes = 0;
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
  std::int64_t cpu_shares = 0;  // 0 = the runtime's default
  bool read_only_root = false;
  std::int64_t memory_swap_bytes = 0;
  int pid = 0;                   // 0 when not running
  int exit_code = 0;
  std::string ip_address;        // on the first network
  std::string user;
};

// One line a container wrote.
struct LogLine {
  std::string stream;  // "stdout" or "stderr"
  std::int64_t at_ms = 0;  // when the runtime received it, unix ms
  std::string text;  // without the trailing newline
};

using LogLinesHandler = std::function<void(std::vector<LogLine>)>;
using LogEndHandler = std::function<void(const std::string& reason)>;

// An open log stream from followLogs. stop() ends it: no handler runs after
// it returns. Destroying it stops it. Use it on the executor it was opened with.
class LogSubscription {
 public:
  virtual ~LogSubscription() = default;
  virtual void stop() = 0;
};

// An image build from a context tar (apps from source).
struct BuildRequest {
  std::string context_path;               // the build context, a tar file
  std::string dockerfile = "Dockerfile";  // its path inside the context
  std::string tag;                        // name:tag the image gets
  std::string target;                     // the stage to build; "" = the last
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> labels;
  std::int64_t memory_bytes = 0;    // each build step's memory limit, swap included (0: none)
  std::int64_t cpu_millicores = 0;  // each build step's CPU limit (0: none)
  int timeout_s = 900;
  // Every base image (FROM, COPY --from=<image>, their ONBUILD triggers) fetched from its
  // registry, never taken from the node's images.
  bool pull_bases = false;
};

// The daemon's stream messages as they arrive (JSON objects), for live logs and progress.
using StreamMessageHandler = std::function<void(const nlohmann::json& message)>;

// A pull's progress each time it changes: {"layers": [{id, state, current,
// total}], "layers_done", "bytes_current", "bytes_total", "summary"} (bytes of
// the layers whose size is known). Called on the pulling thread, often: a
// caller that forwards it throttles it.
using PullProgressHandler = std::function<void(const nlohmann::json& progress)>;

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

  // Pulls by tag or digest. Fails "pull_failed" with the registry's reason
  // (unauthorized, not found, unreachable).
  // `on_progress` (may be empty) sees the per-layer progress as the daemon reports it.
  virtual Result<void> pull(const std::string& reference, const std::optional<RegistryCredentials>& auth,
                            const PullProgressHandler& on_progress) = 0;
  Result<void> pull(const std::string& reference, const std::optional<RegistryCredentials>& auth) {
    return pull(reference, auth, nullptr);
  }
  // Asks the registry itself whether `auth` (none: anonymous) may fetch `reference`,
  // whatever the node holds: a pull may be answered from the node's own copy (Docker
  // does so for a digest it has), which proves nothing. Fails "pull_failed" with the
  // registry's reason.
  virtual Result<void> checkRegistryAccess(const std::string& reference,
                                           const std::optional<RegistryCredentials>& auth) = 0;
  virtual Result<std::optional<ImageInfo>> inspectImage(const std::string& reference) = 0;
  // Removing an image still in use fails "conflict"; a missing one succeeds.
  virtual Result<void> removeImage(const std::string& reference) = 0;
  // Images carrying every label in `labels` (with their tags and labels); an
  // empty value matches any value of that label.
  virtual Result<std::vector<ImageInfo>> listImages(const std::map<std::string, std::string>& labels) = 0;
  virtual Result<void> removeVolume(const std::string& name) = 0;
  // Makes sure a bridge network of that name exists (creates it, labelled
  // berth.managed, when missing); one that exists already is left as it is.
  virtual Result<void> ensureNetwork(const std::string& name) = 0;
  // The network's IPv4 gateway (the host's address on it); "unsupported" where the
  // runtime has no such thing.
  virtual Result<std::string> networkGateway(const std::string& name) {
    return makeError("unsupported", "no gateway address for network " + name);
  }
  // Changes resources in place: same container, no restart.
  virtual Result<void> update(const std::string& id, const Resources& resources) = 0;
  // Runs argv inside the container; the exit code, or "timeout".
  virtual Result<int> exec(const std::string& id, const std::vector<std::string>& argv, int timeout_ms) = 0;
  // One sample, without waiting for a second one (so CPU % comes from the caller's previous sample).
  virtual Result<ContainerStats> stats(const std::string& id) = 0;
  // Builds an image; its id. Fails "build_failed" with the daemon's error (a
  // failing step), "cancelled" once `cancel` turns true and "timeout" after
  // request.timeout_s; in both of those the daemon's build is ended too.
  virtual Result<std::string> build(const BuildRequest& request, const StreamMessageHandler& on_message,
                                    const std::atomic<bool>* cancel) = 0;

  // Follows the stdout and stderr of container `id` (id or name): the lines
  // stamped at or after `since_ms` (unix ms) it wrote already, in order, then
  // new ones as they come. When the container stops (or was not running) the
  // stream ends after its last line and `on_end` runs once with a reason; a
  // missing container ends it at once. Asynchronous: returns immediately and
  // runs both handlers on `executor`, so following many containers costs no
  // threads. Call it on that executor's thread.
  virtual std::unique_ptr<LogSubscription> followLogs(boost::asio::any_io_executor executor, const std::string& id,
                                                      std::int64_t since_ms, LogLinesHandler on_lines,
                                                      LogEndHandler on_end) = 0;
};

}  // namespace berth::runtime
