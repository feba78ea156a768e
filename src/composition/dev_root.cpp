#include "composition/dev_root.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "common/config.hpp"
#include "pki/sealed_file.hpp"

namespace berth::composition {
namespace {

constexpr int kHttpPreferred = 80, kHttpFallback = 8080;
constexpr int kHttpsPreferred = 443, kHttpsFallback = 8443;

int pickPort(std::optional<int> given, int preferred, int fallback, const std::function<bool(int)>& usable,
             const char* setting, std::vector<std::string>& warnings) {
  if (given) return *given;
  if (usable(preferred)) return preferred;
  if (!usable(fallback))
    warnings.push_back("neither " + std::to_string(preferred) + " nor " + std::to_string(fallback) +
                       " can be bound on this machine; give another with --" +
                       [&] {
                         std::string flag = setting;
                         std::replace(flag.begin(), flag.end(), '_', '-');
                         return flag;
                       }());
  return fallback;
}

std::optional<int> givenPort(const nlohmann::json& settings, const char* key, int parsed) {
  return settings.contains(key) ? std::optional<int>(parsed) : std::nullopt;
}

// Whether the nginx an earlier `berth dev` left running (on purpose: apps keep
// serving across restarts) is alive: the ports it holds are ours to reuse.
bool ownProxyRunning(const std::string& agent_dir) {
  std::ifstream in(agent_dir + "/proxy/nginx/run/nginx.pid");
  int pid = 0;
  return in >> pid && pid > 0 && ::kill(pid, 0) == 0;
}

}  // namespace

const std::vector<std::string>& devAgentKeys() {
  static const std::vector<std::string> keys = {"docker_socket",        "docker_network",  "proxy",
                                                "proxy_listen_address", "proxy_http_port", "proxy_https_port",
                                                "reconcile_interval_s"};
  return keys;
}

DevPorts chooseDevPorts(std::optional<int> http_given, std::optional<int> https_given,
                        const std::function<bool(int)>& usable) {
  DevPorts ports;
  ports.https = pickPort(https_given, kHttpsPreferred, kHttpsFallback, usable, "proxy_https_port", ports.warnings);
  ports.http = pickPort(http_given, kHttpPreferred, kHttpFallback, usable, "proxy_http_port", ports.warnings);
  return ports;
}

std::string devAppUrl(const std::string& app, int https_port) {
  return "https://" + app + ".localhost" + (https_port == kHttpsPreferred ? "" : ":" + std::to_string(https_port));
}

std::string devHttpsBanner(int https_port, const std::string& root_path) {
  return "  apps:     " + devAppUrl("<app>", https_port) + "   (an app deployed with --port)\n" +
         "  local CA: " + root_path + "\n" +
         "            trust it: sudo cp " + root_path +
         " /usr/local/share/ca-certificates/berth-dev.crt && sudo update-ca-certificates\n" +
         "            or per command: curl --cacert " + root_path + " " +
         devAppUrl("hello", https_port) + "/\n";
}

bool canBindLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // SO_REUSEADDR as nginx sets it: a port left in TIME_WAIT counts as free.
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return bound;
}

Result<DevAgent> prepareDevAgent(const std::string& data_dir, const std::map<std::string, std::string>& flags,
                                 const std::map<std::string, std::string>& environment) {
  nlohmann::json settings = {{"proxy", "nginx"}, {"proxy_listen_address", "127.0.0.1"}};
  settings = mergeConfig(settings, configFromEnvironment(devAgentKeys(), environment));
  for (const auto& [key, value] : flags) settings[key] = value;
  auto config = agent::agentConfigFromJson(settings);
  if (!config) return config.error();
  DevAgent dev;
  dev.config = std::move(*config);
  dev.config.state_dir = data_dir + "/agent";
  dev.config.site = "dev";
  dev.config.labels = {{"role", "dev"}};
  dev.config.handle_signals = false;
  if (dev.config.proxy == "none") return dev;

  // The ports chosen last time stay ours while our nginx holds them.
  const std::string recordFile = data_dir + "/dev-proxy.json";
  nlohmann::json recorded = nlohmann::json::object();
  if (auto text = pki::readFile(recordFile); text) recorded = nlohmann::json::parse(*text, nullptr, false);
  if (!recorded.is_object()) recorded = nlohmann::json::object();
  const bool ownRunning = ownProxyRunning(dev.config.state_dir);
  auto usable = [&](int port) {
    return canBindLoopback(port) || (ownRunning && (recorded.value("http", 0) == port || recorded.value("https", 0) == port));
  };
  dev.ports = chooseDevPorts(givenPort(settings, "proxy_http_port", dev.config.proxy_http_port),
                             givenPort(settings, "proxy_https_port", dev.config.proxy_https_port), usable);
  if (dev.ports.http == dev.ports.https)
    return makeError("invalid_config", "config field 'proxy_https_port': must differ from proxy_http_port");
  dev.config.proxy_http_port = dev.ports.http;
  dev.config.proxy_https_port = dev.ports.https;
  if (auto r = pki::writePrivateFile(recordFile, nlohmann::json{{"http", dev.ports.http}, {"https", dev.ports.https}}.dump());
      !r)
    return r.error();

  agent::LocalCaOptions ca;
  // Absolute: the path `berth dev` prints is copied from any directory.
  ca.dir = std::filesystem::absolute(data_dir + "/local-ca").lexically_normal().string();
  auto certificates = agent::LocalCaCertificates::open(ca);
  if (!certificates) return certificates.error();
  dev.certificates = std::move(*certificates);
  return dev;
}

}  // namespace berth::composition
