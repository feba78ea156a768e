#include "composition/agent_root.hpp"

#include <unistd.h>

#include <filesystem>

#include "agent/acme_certificates.hpp"
#include "common/logging.hpp"
#include "helper/helper_client.hpp"
#include "proxy/caddy/caddy_proxy.hpp"
#include "proxy/nat/upstream_nat.hpp"
#include "proxy/nginx/nginx_proxy.hpp"
#include "proxy/traefik/traefik_proxy.hpp"
#include "runtime/docker/docker_runtime.hpp"

namespace berth::composition {
namespace {

// How long clients are told to wait while an app has no healthy container.
constexpr int kRetryAfterS = 10;

// The adapter the `proxy` setting names, its files under <state_dir>/proxy.
std::unique_ptr<agent::AppRouter> makeRouter(const agent::AgentConfig& config,
                                             std::shared_ptr<agent::CertificateProvider> certificates,
                                             const std::shared_ptr<helper::HostActions>& host,
                                             std::function<void(const std::string&)>& on_app_network) {
  // Absolute: nginx and Caddy resolve a relative path against their own prefix,
  // not our working directory (`berth dev`'s state is in ./berth-data by default).
  const std::string dir = std::filesystem::absolute(config.state_dir + "/proxy").lexically_normal().string();
  std::unique_ptr<proxy::ReverseProxy> adapter;
  if (config.proxy == "nginx") {
    proxy::nginx::NginxOptions o;
    o.listen_address = config.proxy_listen_address;
    o.http_port = config.proxy_http_port;
    o.https_port = config.proxy_https_port;
    o.config_dir = dir + "/nginx";
    o.runtime_dir = dir + "/nginx/run";
    o.worker_shutdown_timeout_s = config.proxy_shutdown_timeout_s;
    // Updates switch upstreams in the kernel, without a reload (docs/routes.md), where the agent
    // may change the rules itself: as root, not through `berth helper`.
    std::shared_ptr<proxy::nat::IptablesNat> nat;
    if (!host && config.proxy_switch == "kernel") {
      nat = std::make_shared<proxy::nat::IptablesNat>(o.config_dir, o.config_dir);
      on_app_network = [nat](const std::string& gateway) {
        if (auto used = nat->useGateway(gateway); !used)
          log::warn("nginx is reloaded for every update", {{"reason", used.error().message}});
      };
    }
    auto nginx = std::make_unique<proxy::nginx::NginxProxy>(o, "/usr/sbin/nginx", host, nat);
    // Switching in the kernel once, not now: the rules it left go after the first reload.
    if (!nat && ::geteuid() == 0 && std::filesystem::exists(o.config_dir + "/nat_ports"))
      nginx->retireKernelRules(std::make_shared<proxy::nat::IptablesNat>(o.config_dir, o.config_dir));
    adapter = std::move(nginx);
  } else if (config.proxy == "caddy") {
    proxy::caddy::CaddyOptions o;
    o.admin_listen = "unix/" + dir + "/caddy/admin.sock";
    o.listen_address = config.proxy_listen_address;
    o.http_port = config.proxy_http_port;
    o.https_port = config.proxy_https_port;
    o.storage_dir = dir + "/caddy/data";
    if (config.tls == "acme") {  // Caddy gets its certificates itself
      o.acme_directory_url = config.acme_directory_url;
      o.acme_email = config.acme_email;
      o.acme_trusted_root = config.acme_ca_file;
    }
    adapter = std::make_unique<proxy::caddy::CaddyProxy>(o, dir + "/caddy", "/usr/bin/caddy", host);
  } else if (config.proxy == "traefik") {
    adapter = std::make_unique<proxy::traefik::TraefikProxy>(proxy::traefik::TraefikOptions{}, config.traefik_dynamic_file,
                                                             host);
  } else {
    return std::make_unique<agent::NoRouter>();
  }
  // A provider given by the caller (`berth dev`'s local CA) wins; else berth's ACME client.
  if (!certificates && config.tls == "acme" && config.proxy != "caddy") {
    acme::AcmeSettings settings;
    settings.directory_url = config.acme_directory_url;
    settings.ca_file = config.acme_ca_file;
    settings.contact_email = config.acme_email;
    settings.account_dir = config.state_dir + "/acme";
    settings.challenge_dir = config.acme_challenge_dir;
    auto acme = agent::AcmeCertificates::create(settings, config.state_dir);
    if (!acme) {
      // Routes still serve on HTTP; the reason is logged where an operator looks first.
      log::error("HTTPS unavailable: berth's ACME client could not start", {{"error", acme.error().message}});
    } else {
      certificates = *acme;
    }
  }
  // Requests of an app no container can take yet wait there (Traefik cannot reach it: see docs/routes.md).
  std::unique_ptr<proxy::hold::HoldServer> hold;
  if (config.proxy != "traefik") {
    // Its port outlives the agent (the proxy's configuration names it), so it is kept, and privileged.
    auto started = proxy::hold::HoldServer::startKept("127.0.0.1", config.state_dir + "/hold_port");
    if (started) hold = std::move(*started);
    else log::error("requests will not be held while apps start", {{"error", started.error().message}});
  }
  return std::make_unique<agent::ProxyRouter>(std::move(adapter), kRetryAfterS, std::move(certificates),
                                              std::move(hold));
}

}  // namespace

Result<agent::AgentParts> agentParts(const agent::AgentConfig& config,
                                     std::shared_ptr<agent::CertificateProvider> certificates) {
  auto journal = agent::CommandJournal::load(config.state_dir + "/commands.json");
  if (!journal) return journal.error();
  agent::AgentParts parts;
  parts.connect_runtime = [socket = config.docker_socket]() -> Result<std::unique_ptr<runtime::ContainerRuntime>> {
    auto docker = runtime::docker::DockerRuntime::create(socket);
    if (!docker) return docker.error();
    return std::unique_ptr<runtime::ContainerRuntime>(std::move(*docker));
  };
  parts.journal = std::move(*journal);
  parts.host_reader = agent::realHostReader();
  parts.clock = systemNowMs;
  if (!config.helper_socket.empty()) {
    auto client = helper::HelperClient::open(config.helper_socket, config.helper_key_file);
    if (!client) return client.error();
    parts.host_actions = std::move(*client);
  }
  parts.router = makeRouter(config, std::move(certificates), parts.host_actions, parts.on_app_network);
  return parts;
}

Result<std::unique_ptr<agent::Agent>> makeAgent(agent::AgentConfig config,
                                                std::shared_ptr<agent::CertificateProvider> certificates) {
  auto parts = agentParts(config, std::move(certificates));
  if (!parts) return parts.error();
  return agent::Agent::create(std::move(config), std::move(*parts));
}

}  // namespace berth::composition
