#include "server/server_config.hpp"

#include <algorithm>

#include "apps/domains.hpp"
#include "apps/validation.hpp"
#include "common/logging.hpp"
#include "server/advertise.hpp"

namespace berth::server {
namespace {

struct IntField {
  const char* name;
  int ServerConfig::*member;
  int min;
  int max;
};

constexpr IntField kIntFields[] = {
    {"heartbeat_interval_s", &ServerConfig::heartbeat_interval_s, 1, 3600},
    {"heartbeat_misses", &ServerConfig::heartbeat_misses, 1, 100},
    {"telemetry_interval_s", &ServerConfig::telemetry_interval_s, 1, 86400},
    {"telemetry_history", &ServerConfig::telemetry_history, 1, 100000},
    {"command_timeout_s", &ServerConfig::command_timeout_s, 1, 86400},
    {"max_in_flight", &ServerConfig::max_in_flight, 1, 1024},
    {"max_queue", &ServerConfig::max_queue, 1, 1000000},
    {"command_batch_max", &ServerConfig::command_batch_max, 1, 1000000},
    {"clock_skew_s", &ServerConfig::clock_skew_s, 1, 3600},
    {"max_envelope_lifetime_s", &ServerConfig::max_envelope_lifetime_s, 10, 86400},
    {"max_frame_bytes", &ServerConfig::max_frame_bytes, 1024, 64 << 20},
    {"max_output_bytes", &ServerConfig::max_output_bytes, 0, 16 << 20},
    {"client_cert_days", &ServerConfig::client_cert_days, 1, 3650},
    {"log_retention_hours", &ServerConfig::log_retention_hours, 1, 24 * 3650},
    {"command_retention_days", &ServerConfig::command_retention_days, 0, 3650},
    {"log_max_mib_per_app", &ServerConfig::log_max_mib_per_app, 1, 1 << 20},
    {"deployments_kept", &ServerConfig::deployments_kept, 1, 100},
    {"max_connections_per_address", &ServerConfig::max_connections_per_address, 1, 1000000},
    {"max_handshakes_in_flight", &ServerConfig::max_handshakes_in_flight, 1, 100000},
    {"io_threads", &ServerConfig::io_threads, 0, 64},
    {"rate_limit_key_per_s", &ServerConfig::rate_limit_key_per_s, 1, 1000000},
    {"rate_limit_key_burst", &ServerConfig::rate_limit_key_burst, 1, 1000000},
    {"rate_limit_address_per_s", &ServerConfig::rate_limit_address_per_s, 1, 1000000},
    {"rate_limit_address_burst", &ServerConfig::rate_limit_address_burst, 1, 1000000},
    {"audit_anonymous_per_s", &ServerConfig::audit_anonymous_per_s, 1, 1000000},
    {"audit_anonymous_burst", &ServerConfig::audit_anonymous_burst, 1, 1000000},
    {"agent_frames_per_s", &ServerConfig::agent_frames_per_s, 1, 1000000},
    {"agent_frames_burst", &ServerConfig::agent_frames_burst, 1, 1000000},
    {"service_backlog_kib", &ServerConfig::service_backlog_kib, 64, 16 * 1024 * 1024},
};

struct BoolField {
  const char* name;
  bool ServerConfig::*member;
};

constexpr BoolField kBoolFields[] = {
    {"limit_loopback_connections", &ServerConfig::limit_loopback_connections},
    {"allow_wildcard_domains", &ServerConfig::allow_wildcard_domains},
};

Error fieldError(const std::string& field, const std::string& rule) {
  return makeError("invalid_config", "config field '" + field + "': " + rule);
}

}  // namespace

const std::vector<std::string>& serverConfigKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = {
        "data_dir",           "listen",       "server_names", "log_level", "allowed_capabilities",
        "sqlite_synchronous", "advertise_url", "base_domain", "metrics_listen"};
    for (const auto& f : kIntFields) k.emplace_back(f.name);
    for (const auto& f : kBoolFields) k.emplace_back(f.name);
    return k;
  }();
  return keys;
}

Result<ServerConfig> serverConfigFromJson(const nlohmann::json& merged) {
  ServerConfig config;
  const auto& keys = serverConfigKeys();
  for (auto it = merged.begin(); it != merged.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
      return fieldError(it.key(), "is not a known setting");
    }
  }
  for (const char* name : {"data_dir", "listen", "log_level", "sqlite_synchronous"}) {
    if (!merged.contains(name)) continue;
    if (!merged[name].is_string() || merged[name].get<std::string>().empty()) {
      return fieldError(name, "must be a non-empty string");
    }
  }
  if (merged.contains("data_dir")) config.data_dir = merged["data_dir"];
  if (merged.contains("listen")) config.listen = merged["listen"];
  if (merged.contains("log_level")) config.log_level = merged["log_level"];
  if (merged.contains("sqlite_synchronous")) config.sqlite_synchronous = merged["sqlite_synchronous"];
  if (config.sqlite_synchronous != "full" && config.sqlite_synchronous != "normal")
    return fieldError("sqlite_synchronous", "must be full or normal");
  log::Level level;
  if (!log::parseLevel(config.log_level, level)) return fieldError("log_level", "must be debug, info, warn or error");
  if (config.listen.rfind(':') == std::string::npos) return fieldError("listen", "must be host:port");
  if (merged.contains("advertise_url")) {
    if (!merged["advertise_url"].is_string()) return fieldError("advertise_url", "must be a string");
    config.advertise_url = merged["advertise_url"];
    if (auto plan = planAdvertising(config.listen, config.advertise_url, {}, {}); !plan) return plan.error();
  }
  if (merged.contains("metrics_listen")) {
    if (!merged["metrics_listen"].is_string()) return fieldError("metrics_listen", "must be host:port or \"\"");
    config.metrics_listen = merged["metrics_listen"];
    if (!config.metrics_listen.empty() && config.metrics_listen.rfind(':') == std::string::npos)
      return fieldError("metrics_listen", "must be host:port (e.g. 127.0.0.1:9464) or \"\" (off)");
  }
  if (merged.contains("base_domain")) {
    if (!merged["base_domain"].is_string()) return fieldError("base_domain", "must be a string");
    const std::string text = merged["base_domain"];
    if (!text.empty()) {
      // A base domain is never a wildcard: apps get <app>.<base_domain>.
      auto domain = apps::validateBaseDomain(text, "base_domain");
      if (!domain) return makeError("invalid_config", "config " + domain.error().message);
      config.base_domain = *domain;
    }
  }
  if (merged.contains("server_names")) {
    const auto& names = merged["server_names"];
    std::vector<std::string> parsed;
    if (names.is_string()) {  // comma-separated, as from an environment variable or flag
      std::string text = names, item;
      for (char c : text + ",") {
        if (c == ',') {
          if (!item.empty()) parsed.push_back(item);
          item.clear();
        } else {
          item += c;
        }
      }
    } else if (names.is_array()) {
      for (const auto& n : names) {
        if (!n.is_string()) return fieldError("server_names", "must be a list of host names");
        parsed.push_back(n);
      }
    } else {
      return fieldError("server_names", "must be a list of host names");
    }
    if (parsed.empty()) return fieldError("server_names", "must name at least one host");
    config.server_names = parsed;
  }
  if (merged.contains("allowed_capabilities")) {
    const auto& caps = merged["allowed_capabilities"];
    std::vector<std::string> parsed;
    if (caps.is_string()) {  // comma-separated, as from an environment variable or flag
      std::string item;
      for (char c : caps.get<std::string>() + ",") {
        if (c == ',') {
          if (!item.empty()) parsed.push_back(item);
          item.clear();
        } else if (c != ' ') {
          item += c;
        }
      }
    } else if (caps.is_array()) {
      for (const auto& c : caps) {
        if (!c.is_string()) return fieldError("allowed_capabilities", "must be a list of capability names");
        parsed.push_back(c.get<std::string>());
      }
    } else {
      return fieldError("allowed_capabilities", "must be a list of capability names, e.g. [\"NET_ADMIN\"]");
    }
    for (const auto& cap : parsed) {
      if (auto r = apps::validateCapability("allowed_capabilities", cap); !r)
        return fieldError("allowed_capabilities", "'" + cap + "' is not a Linux capability (no CAP_ prefix)");
    }
    config.allowed_capabilities = parsed;
  }
  for (const auto& f : kIntFields) {
    if (!merged.contains(f.name)) continue;
    const auto& v = merged[f.name];
    std::int64_t number = 0;
    if (v.is_number_integer()) {
      number = v.get<std::int64_t>();
    } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() <= 18 &&
               v.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
      number = std::stoll(v.get<std::string>());
    } else {
      return fieldError(f.name, "must be an integer");
    }
    if (number < f.min || number > f.max) {
      return fieldError(f.name, "must be between " + std::to_string(f.min) + " and " + std::to_string(f.max));
    }
    config.*(f.member) = static_cast<int>(number);
  }
  for (const auto& f : kBoolFields) {
    if (!merged.contains(f.name)) continue;
    const auto& v = merged[f.name];
    if (v.is_boolean()) {
      config.*(f.member) = v.get<bool>();
    } else if (v.is_string() && (v == "true" || v == "1")) {
      config.*(f.member) = true;
    } else if (v.is_string() && (v == "false" || v == "0")) {
      config.*(f.member) = false;
    } else {
      return fieldError(f.name, "must be true or false");
    }
  }
  return config;
}

nlohmann::json toJson(const ServerConfig& config) {
  nlohmann::json j = {{"data_dir", config.data_dir},
                      {"listen", config.listen},
                      {"server_names", config.server_names},
                      {"advertise_url", config.advertise_url},
                      {"log_level", config.log_level},
                      {"sqlite_synchronous", config.sqlite_synchronous},
                      {"allowed_capabilities", config.allowed_capabilities},
                      {"base_domain", config.base_domain},
                      {"metrics_listen", config.metrics_listen}};
  for (const auto& f : kIntFields) j[f.name] = config.*(f.member);
  for (const auto& f : kBoolFields) j[f.name] = config.*(f.member);
  return j;
}

const std::vector<std::string>& restartOnlyKeys() {
  static const std::vector<std::string> keys = {
      "data_dir",        "listen",          "sqlite_synchronous",          "server_names",
      "advertise_url",   "max_frame_bytes", "max_connections_per_address", "max_handshakes_in_flight",
      "io_threads",      "limit_loopback_connections", "metrics_listen"};
  return keys;
}

Reload applyReload(const ServerConfig& running, const ServerConfig& fresh) {
  Reload r{fresh, {}};
  const nlohmann::json before = toJson(running), after = toJson(fresh);
  for (const auto& key : restartOnlyKeys()) {
    if (before[key] != after[key]) r.ignored.push_back(key);
  }
  r.config.data_dir = running.data_dir;
  r.config.listen = running.listen;
  r.config.sqlite_synchronous = running.sqlite_synchronous;
  r.config.server_names = running.server_names;
  r.config.advertise_url = running.advertise_url;
  r.config.max_frame_bytes = running.max_frame_bytes;
  r.config.max_connections_per_address = running.max_connections_per_address;
  r.config.max_handshakes_in_flight = running.max_handshakes_in_flight;
  r.config.io_threads = running.io_threads;
  r.config.limit_loopback_connections = running.limit_loopback_connections;
  r.config.metrics_listen = running.metrics_listen;
  return r;
}

}  // namespace berth::server
