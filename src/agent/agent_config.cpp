#include <algorithm>

#include "agent/agent.hpp"
#include <boost/asio/ip/address.hpp>

#include "apps/domains.hpp"
#include "apps/validation.hpp"
#include "common/logging.hpp"
#include "protocol/agent_frames.hpp"

namespace berth::agent {
namespace {
Error fieldError(const std::string& field, const std::string& rule) {
  return makeError("invalid_config", "config field '" + field + "': " + rule);
}

Result<int> intField(const nlohmann::json& v, const std::string& name, int min, int max) {
  std::int64_t number = 0;
  if (v.is_number_integer()) {
    number = v.get<std::int64_t>();
  } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() < 10 &&
             v.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
    number = std::stoll(v.get<std::string>());
  } else {
    return fieldError(name, "must be an integer");
  }
  if (number < min || number > max) {
    return fieldError(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return static_cast<int>(number);
}
}  // namespace

const std::vector<std::string>& agentConfigKeys() {
  static const std::vector<std::string> keys = {
      "state_dir", "server",    "join",         "ca_pin",          "site",
      "labels",    "log_level", "clock_skew_s", "max_envelope_lifetime_s", "max_frame_bytes", "backoff_cap_s",
      "docker_socket", "docker_network", "reconcile_interval_s", "reserved_cpu", "reserved_memory",
      "container_log_max_size", "container_log_max_files", "proxy", "proxy_listen_address", "proxy_http_port",
      "proxy_https_port", "proxy_shutdown_timeout_s", "proxy_switch", "startup_cpu_shares", "traefik_dynamic_file", "base_domain", "tls",
      "acme_directory_url", "acme_email", "acme_ca_file", "acme_challenge_dir", "helper_socket", "helper_key_file",
      "build_memory", "build_cpus", "build_timeout_s", "git_timeout_s", "git_ca_file"};
  return keys;
}

Result<AgentConfig> agentConfigFromJson(const nlohmann::json& merged) {
  AgentConfig config;
  const auto& keys = agentConfigKeys();
  for (auto it = merged.begin(); it != merged.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      return fieldError(it.key(), "is not a known setting");
  }
  std::pair<const char*, std::string*> strings[] = {{"state_dir", &config.state_dir}, {"server", &config.server_url},
                                                    {"join", &config.join_token},     {"ca_pin", &config.ca_pin},
                                                    {"site", &config.site},           {"log_level", &config.log_level},
                                                    {"docker_socket", &config.docker_socket},
                                                    {"docker_network", &config.docker_network},
                                                    {"proxy", &config.proxy},
                                                    {"proxy_listen_address", &config.proxy_listen_address},
                                                    {"proxy_switch", &config.proxy_switch},
                                                    {"traefik_dynamic_file", &config.traefik_dynamic_file},
                                                    {"base_domain", &config.base_domain},
                                                    {"tls", &config.tls},
                                                    {"acme_directory_url", &config.acme_directory_url},
                                                    {"acme_email", &config.acme_email},
                                                    {"acme_ca_file", &config.acme_ca_file},
                                                    {"acme_challenge_dir", &config.acme_challenge_dir},
                                                    {"helper_socket", &config.helper_socket},
                                                    {"helper_key_file", &config.helper_key_file},
                                                    {"git_ca_file", &config.git_ca_file}};
  for (auto& [name, target] : strings) {
    if (!merged.contains(name)) continue;
    if (!merged[name].is_string()) return fieldError(name, "must be a string");
    *target = merged[name];
  }
  if (config.proxy_switch != "kernel" && config.proxy_switch != "reload")
    return fieldError("proxy_switch", "must be kernel or reload");
  log::Level level;
  if (!log::parseLevel(config.log_level, level)) return fieldError("log_level", "must be debug, info, warn or error");
  if (merged.contains("labels")) {
    auto labels = merged["labels"];
    if (labels.is_string()) {  // k=v,k=v from a flag or variable
      nlohmann::json parsed = nlohmann::json::object();
      std::string text = labels.get<std::string>() + ",", item;
      for (char c : text) {
        if (c != ',') {
          item += c;
          continue;
        }
        if (item.empty()) continue;
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) return fieldError("labels", "each label must be key=value");
        parsed[item.substr(0, eq)] = item.substr(eq + 1);
        item.clear();
      }
      labels = parsed;
    }
    if (!labels.is_object()) return fieldError("labels", "must be an object of strings or key=value,key=value");
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (!it.value().is_string()) return fieldError("labels." + it.key(), "must be a string");
    }
    // The server's rule for HELLO, checked here so a bad label stops the start, not every session.
    if (auto text = protocol::checkHelloText({{"labels", labels}}); !text) return text.error();
    config.labels = labels;
  }
  std::tuple<const char*, int*, int, int> ints[] = {{"clock_skew_s", &config.clock_skew_s, 1, 3600},
                                                    {"max_envelope_lifetime_s", &config.max_envelope_lifetime_s, 10, 86400},
                                                    {"max_frame_bytes", &config.max_frame_bytes, 1024, 64 << 20},
                                                    {"backoff_cap_s", &config.backoff_cap_s, 1, 3600},
                                                    {"reconcile_interval_s", &config.reconcile_interval_s, 1, 3600},
                                                    {"container_log_max_files", &config.container_log_max_files, 1, 100},
                                                    {"proxy_http_port", &config.proxy_http_port, 1, 65535},
                                                    {"proxy_https_port", &config.proxy_https_port, 1, 65535},
                                                    {"proxy_shutdown_timeout_s", &config.proxy_shutdown_timeout_s, 1, 86400},
                                                    {"build_timeout_s", &config.build_timeout_s, 10, 86400},
                                                    {"git_timeout_s", &config.git_timeout_s, 5, 3600},
                                                    {"startup_cpu_shares", &config.startup_cpu_shares, 0, 1024}};
  for (auto& [name, target, min, max] : ints) {
    if (!merged.contains(name)) continue;
    auto value = intField(merged[name], name, min, max);
    if (!value) return value.error();
    *target = *value;
  }
  if (config.startup_cpu_shares == 1) return fieldError("startup_cpu_shares", "must be 0 (off) or between 2 and 1024");
  if (merged.contains("container_log_max_size")) {
    // Docker's own syntax for json-file max-size: digits with an optional k, m or g.
    const auto& v = merged["container_log_max_size"];
    const std::string text = v.is_string() ? v.get<std::string>() : "";
    const std::size_t digits = text.find_first_not_of("0123456789");
    const bool ok = !text.empty() && digits != 0 && text.size() <= 12 &&
                    (digits == std::string::npos || (digits == text.size() - 1 && std::string("kmg").find(text.back()) != std::string::npos)) &&
                    text.find_first_not_of("0") != std::string::npos && text[0] != '0';
    if (!ok) return fieldError("container_log_max_size", "must be a size such as 10m, 512k or 1g");
    config.container_log_max_size = text;
  }
  if (config.proxy != "nginx" && config.proxy != "caddy" && config.proxy != "traefik" && config.proxy != "none")
    return fieldError("proxy", "must be nginx, caddy, traefik or none");
  if (config.proxy_http_port == config.proxy_https_port)
    return fieldError("proxy_https_port", "must differ from proxy_http_port");
  if (!config.proxy_listen_address.empty()) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(config.proxy_listen_address, ec);
    if (ec) return fieldError("proxy_listen_address", "must be an IPv4 or IPv6 address");
  }
  if (config.tls != "acme" && config.tls != "off") return fieldError("tls", "must be acme or off");
  if (config.tls == "acme" && config.acme_directory_url.rfind("https://", 0) != 0)
    return fieldError("acme_directory_url", "must be an https:// URL");
  for (auto [name, path] : {std::pair{"acme_ca_file", &config.acme_ca_file},
                            std::pair{"acme_challenge_dir", &config.acme_challenge_dir},
                            std::pair{"helper_socket", &config.helper_socket},
                            std::pair{"helper_key_file", &config.helper_key_file},
                            std::pair{"git_ca_file", &config.git_ca_file}}) {
    if (!path->empty() && (path->front() != '/' || path->find("..") != std::string::npos))
      return fieldError(name, "must be an absolute path without '..'");
  }
  if (config.acme_email.find_first_of(" \t\r\n<>\"") != std::string::npos ||
      (!config.acme_email.empty() && config.acme_email.find('@') == std::string::npos))
    return fieldError("acme_email", "must be an e-mail address");
  if (!config.traefik_dynamic_file.empty() &&
      (config.traefik_dynamic_file.front() != '/' || config.traefik_dynamic_file.find("..") != std::string::npos))
    return fieldError("traefik_dynamic_file", "must be an absolute path without '..'");
  if (!config.base_domain.empty()) {
    auto base = apps::validateBaseDomain(config.base_domain, "base_domain");
    if (!base) return makeError("invalid_config", "config " + base.error().message);
    config.base_domain = *base;
  }
  if (merged.contains("reserved_cpu")) {
    const auto& v = merged["reserved_cpu"];
    auto cpu = apps::parseCpu("reserved_cpu", v.is_string() ? v.get<std::string>() : v.dump());
    if (!cpu) return makeError("invalid_config", "config " + cpu.error().message);
    config.reserved_cpu_millicores = *cpu;
  }
  if (merged.contains("reserved_memory")) {
    const auto& v = merged["reserved_memory"];
    auto bytes = apps::parseBytes("reserved_memory", v.is_string() ? v.get<std::string>() : v.dump(), 0);
    if (!bytes) return makeError("invalid_config", "config " + bytes.error().message);
    config.reserved_memory_bytes = *bytes;
  }
  if (merged.contains("build_memory")) {
    const auto& v = merged["build_memory"];
    auto bytes = apps::parseBytes("build_memory", v.is_string() ? v.get<std::string>() : v.dump(), 0);
    if (!bytes) return makeError("invalid_config", "config " + bytes.error().message);
    if (*bytes < (std::int64_t{64} << 20)) return fieldError("build_memory", "must be at least 64m");
    config.build_memory_bytes = *bytes;
  }
  if (merged.contains("build_cpus")) {
    const auto& v = merged["build_cpus"];
    auto cpu = apps::parseCpu("build_cpus", v.is_string() ? v.get<std::string>() : v.dump());
    if (!cpu) return makeError("invalid_config", "config " + cpu.error().message);
    if (*cpu < 100) return fieldError("build_cpus", "must be at least 0.1");
    config.build_cpu_millicores = *cpu;
  }
  return config;
}

BuildSettings buildSettingsOf(const AgentConfig& config) {
  BuildSettings settings;
  settings.memory_bytes = config.build_memory_bytes;
  settings.cpu_millicores = config.build_cpu_millicores;
  settings.timeout_s = config.build_timeout_s;
  settings.git_timeout_s = config.git_timeout_s;
  settings.git_ca_file = config.git_ca_file;
  return settings;
}

}  // namespace berth::agent
