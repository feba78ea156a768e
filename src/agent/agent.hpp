// berth agent: dials out to the control plane over mutual TLS, holds one
// WebSocket session, answers heartbeats, sends telemetry, runs signed
// allowlisted commands, reconnects with capped exponential backoff and
// jitter, and renews its certificate before it expires. Never listens.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/app_router.hpp"
#include "agent/command_journal.hpp"
#include "agent/verbs.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "helper/host_actions.hpp"
#include "runtime/container_runtime.hpp"
#include "agent/source_builder.hpp"

namespace berth::agent {

struct AgentConfig {
  std::string state_dir = "./berth-agent";
  std::string server_url;  // needed only to enrol; later taken from the state
  std::string join_token;
  std::string ca_pin;
  std::string site;
  nlohmann::json labels = nlohmann::json::object();
  std::string log_level = "info";
  int clock_skew_s = 60;
  int max_envelope_lifetime_s = 600;
  int max_frame_bytes = 1 << 20;
  int backoff_cap_s = 60;
  bool handle_signals = true;
  // Apps: the container runtime and the resources kept back from apps.
  std::string docker_socket = "/var/run/docker.sock";
  // The bridge network app containers join and the proxy reaches them on (created when missing);
  // "" = the daemon's default bridge.
  std::string docker_network = "berth";
  int reconcile_interval_s = 10;
  std::int64_t reserved_cpu_millicores = 0;
  std::int64_t reserved_memory_bytes = 0;
  // Each app container's Docker log (json-file), rotated at this size, this many files kept.
  std::string container_log_max_size = "10m";
  int container_log_max_files = 3;
  // The reverse proxy in front of routed apps (docs/routes.md): nginx (default), caddy, traefik or none.
  std::string proxy = "nginx";
  std::string proxy_listen_address;  // "" = every address
  int proxy_http_port = 80;
  int proxy_https_port = 443;
  int proxy_shutdown_timeout_s = 3600;  // nginx: how long connections open at a reload may stay on old workers
  // nginx: how an update moves an app's traffic. "kernel": nginx names a stable address per app and
  // iptables rules send it to the containers (no reload; needs root without helper_socket, else
  // reload); "reload": nginx names the containers and is reloaded (docs/routes.md).
  std::string proxy_switch = "kernel";
  // CPU weight of a new version's containers while the previous version serves (SupervisorOptions);
  // 0: not lowered (default: it did not measurably help here, docs/BENCHMARKS.md). Docker's smallest is 2.
  int startup_cpu_shares = 0;
  std::string traefik_dynamic_file = "/etc/traefik/dynamic/berth.yml";
  std::string base_domain;  // this node's own base domain for generated app domains, over the server's
  // HTTPS for routed hosts: "acme" (certificates from acme_directory_url; Caddy uses its own client) or "off".
  std::string tls = "acme";
  std::string acme_directory_url = "https://acme-v02.api.letsencrypt.org/directory";
  std::string acme_email;
  std::string acme_ca_file;  // the ACME server's own TLS root when it is not in the system store (Pebble)
  // http-01 token files; served by the proxy's workers, so outside the private state directory.
  std::string acme_challenge_dir = "/var/lib/berth-acme/challenge";
  // `berth helper`'s socket (docs/helper.md): when set, tc, proxy starts and
  // reloads and host files go through it, so the agent needs no root. "" = done here.
  std::string helper_socket;
  std::string helper_key_file = "/etc/berth/helper.key";
  // Apps from source (docs/builds.md): each image build's limits, git's time limit and extra CA.
  std::int64_t build_memory_bytes = std::int64_t{2} << 30;
  std::int64_t build_cpu_millicores = 2000;
  int build_timeout_s = 900;
  int git_timeout_s = 300;
  std::string git_ca_file;  // https git servers under a private CA ("" = the system's roots)
};

// The keys accepted in the agent's config file, BERTH_* variables and flags.
const std::vector<std::string>& agentConfigKeys();
Result<AgentConfig> agentConfigFromJson(const nlohmann::json& merged);
// The source builder's settings from the agent's (build_memory, build_cpus, build_timeout_s, git_*).
BuildSettings buildSettingsOf(const AgentConfig& config);

// The wait before the next dial after `failures` failed dials in a row (1 s
// doubling, with jitter: a value in [base/2, base]). `jitter` in [0, 1] picks
// within that range. Once a session has existed the cap is 15 s, so a node
// back from a partition is seen again quickly; before any session (a server
// not there yet) `cap_s` applies.
std::chrono::milliseconds reconnectDelay(int failures, bool had_session, int cap_s, double jitter);

// Connects to the container runtime. Called on a worker thread at start and
// again on later app work while it fails (the runtime may come up after the agent).
using RuntimeConnector = std::function<Result<std::unique_ptr<runtime::ContainerRuntime>>()>;

// The concrete parts an agent runs on, wired by its composition root
// (src/composition/agent_root.cpp: Docker, the journal file, /proc); tests pass their own.
struct AgentParts {
  RuntimeConnector connect_runtime;
  CommandJournal journal;  // <state_dir>/commands.json as loaded
  HostReader host_reader;
  Clock clock = systemNowMs;
  std::unique_ptr<AppRouter> router;  // the node's reverse proxy (NoRouter when none)
  std::shared_ptr<helper::HostActions> host_actions;  // `berth helper` (helper_socket); null: done here
  // Told the app network's IPv4 gateway once it exists (the proxy's stable upstream addresses live there).
  std::function<void(const std::string& gateway)> on_app_network;
};

class Agent {
 public:
  // Loads the enrolled state, or enrols with server_url/join_token/ca_pin.
  static Result<std::unique_ptr<Agent>> create(AgentConfig config, AgentParts parts);
  ~Agent();
  void run();
  // Thread-safe.
  void stop();
  std::string nodeId() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::agent
