// Integration harness: starts real `berth server` and `berth agent` processes
// on 127.0.0.1 with real TLS, talks to them over the REST API and a raw agent
// WebSocket, and cleans up. Every test owns a fresh temporary directory.
#pragma once

#include <gtest/gtest.h>

#include "runtime/docker/docker_runtime.hpp"
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_state.hpp"
#include "cli/api_client.hpp"
#include "protocol/envelope.hpp"

namespace berth::itest {

class Process {
 public:
  // Starts `argv` with stdout and stderr appended to `log_path`, in `cwd`
  // when given.
  static std::unique_ptr<Process> spawn(const std::vector<std::string>& argv, const std::string& log_path,
                                        const std::vector<std::string>& extra_env = {}, const std::string& cwd = "");
  ~Process();
  void signal(int sig);
  // Waits for exit; returns the exit code, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running();
  pid_t pid() const { return pid_; }
  std::string log() const;
  const std::string& logPath() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(15));

int countOccurrences(const std::string& text, const std::string& needle);

// A private dockerd for one test: vfs storage, a default bridge of its own
// (created here with ip link), no iptables, its own data/exec roots and socket
// under /tmp (socket paths are short), and a user-defined bridge network
// "berth-test" so the host reaches containers by IP. The destructor removes
// containers, network and bridge and stops the daemon.
class DockerDaemon {
 public:
  DockerDaemon();
  ~DockerDaemon();
  bool ready() const { return docker != nullptr; }
  // Imports a rootfs with /bin/busybox plus `files` (path -> content) as repo:tag; its image id.
  std::string importBusybox(const std::string& repo, const std::string& tag,
                            const std::map<std::string, std::string>& files = {});
  // Stops dockerd (its containers stop with it); start() runs it again on the same socket and data.
  void stop();
  bool start();
  // The gateway address of the berth-test network: a host address that is not loopback.
  std::string networkGateway();
  std::string root, socket, log_path, bridge;
  std::vector<std::string> argv;
  std::unique_ptr<Process> process;
  std::unique_ptr<runtime::docker::DockerRuntime> docker;
};

// One REST call's outcome as a given bearer sees it: a transport or client
// error (ok false, code and message), or the server's status and body.
struct BearerAnswer {
  bool ok = false;
  int status = 0;
  std::string code;  // the error's code when not ok
  std::string message;
  nlohmann::json body;
};

// An agent's kernel rules (proxy/nat) outlive it, as they must in production: a test removes
// them with it. `agent_state_dir`: the agent's --state-dir.
void removeKernelRules(const std::string& agent_state_dir);

class Cluster {
 public:
  Cluster();
  ~Cluster();

  // Starts (or restarts on the same port) the server with extra flags; it
  // listens on 127.0.0.1 with server_names localhost,127.0.0.1 unless `flags`
  // give --listen or --server-names (a restart then takes the port itself).
  void startServer(const std::vector<std::string>& flags = {});
  void killServer(int sig = SIGKILL);
  int port() const { return port_; }
  Process& server() { return *server_; }
  std::string serverDir() const { return root_ + "/server"; }
  // XDG_CONFIG_HOME of the server processes: they write berth/cli.json there, never the tester's own.
  std::string configHome() const { return root_ + "/xdg"; }

  // REST call with `bearer` (a key or session token; "" none), acting in `org` when given.
  BearerAnswer callAs(const std::string& bearer, const std::string& method, const std::string& target,
                      const nlohmann::json& body = nullptr, const std::string& org = "");
  // REST call with the admin key; the reply's status and body.
  cli::ApiReply api(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr);
  // REST call that returns the error (code, message) or the reply.
  Result<cli::ApiReply> apiResult(const std::string& method, const std::string& target,
                                  const nlohmann::json& body = nullptr);
  std::string createToken(int ttl_s = 600);
  // A session of the bootstrap owner ("owner"), after giving it a password (it has none at first);
  // the same one on later calls.
  std::string ownerSession();
  // A new org (made by the platform admin) and an admin key of its own owner, "<org>-boss", who
  // holds no platform role.
  std::string orgWithAdminKey(const std::string& org);

  // Starts an agent with its own state directory under the test's root
  // (`token` empty: no --join, for an enrolled state directory); `flags` may
  // give its own --server.
  Process& startAgent(const std::string& name, const std::string& token, const std::vector<std::string>& flags = {});
  Process& agent(const std::string& name);
  std::string agentDir(const std::string& name) const { return root_ + "/" + name; }
  // Enrols (if needed) and waits until the agent's node is online; its node id.
  std::string startOnlineAgent(const std::string& name, const std::vector<std::string>& flags = {});
  agent::AgentState agentState(const std::string& name);
  nlohmann::json node(const std::string& id);
  // A metric without labels from the server's /metrics; -1 when it is not there.
  std::int64_t metric(const std::string& name);
  // Waits for a command to reach a final state; its JSON.
  nlohmann::json waitForCommand(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Runs `berth <args>` as the CLI; exit code and stdout+stderr.
  std::pair<int, std::string> cli(const std::vector<std::string>& args);

  const std::string& url() const { return url_; }
  const std::string& apiKey() const { return api_key_; }
  const std::string& caPin() const { return ca_pin_; }
  const std::string& caFile() const { return ca_file_; }
  const std::string& root() const { return root_; }

  // Put before `berth agent ...` when agents start (e.g. setpriv dropping capabilities).
  std::vector<std::string> agent_prefix;

 private:
  std::string root_;
  std::string url_, api_key_, ca_file_, ca_pin_;
  std::string owner_session_;  // ownerSession(), once made
  int port_ = 0;
  int server_starts_ = 0;
  std::unique_ptr<Process> server_;
  std::vector<std::pair<std::string, std::unique_ptr<Process>>> agents_;
};

// A frame as an agent would send it from `node_id`: issued now, fresh nonce, `lifetime_ms` to live.
protocol::Envelope rawAgentFrame(const std::string& node_id, protocol::FrameType type,
                                 std::int64_t lifetime_ms = 30'000);

// A hand-driven agent connection for sending arbitrary frames.
class RawAgentConnection {
 public:
  RawAgentConnection();
  ~RawAgentConnection();
  Result<void> connect(const std::string& url, const agent::AgentState& state);
  void send(const std::string& text);
  // Next frame within `timeout`, or nullopt (the connection is then unusable).
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::itest
