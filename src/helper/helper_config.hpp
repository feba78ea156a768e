// `berth helper`'s settings (a JSON file, BERTH_* variables, flags), as a plain
// struct. Every directory and file it may touch is fixed here, by root, never
// by a request.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::helper {

struct HelperConfig {
  std::string socket = "/run/berth/helper.sock";
  std::string socket_group = "berth";  // the socket is 0660 root:<group> when the group exists
  std::string key_file = "/etc/berth/helper.key";  // created 0640 root:<socket_group> when missing
  std::vector<std::string> proxy_dirs = {"/var/lib/berth-agent/proxy"};
  std::vector<std::string> writable_files = {"/etc/traefik/dynamic/berth.yml"};
  // The user nginx and Caddy run as (with CAP_NET_BIND_SERVICE only); "root"
  // runs them as root, which hands the agent's proxy configuration root.
  std::string proxy_user = "berth";
  int max_request_lifetime_s = 30;
  int clock_skew_s = 5;
  std::string log_level = "info";
};

const std::vector<std::string>& helperConfigKeys();
// Lists may be JSON arrays or comma-separated strings (from a flag). Paths
// must pass checkPathText; errors name the field.
Result<HelperConfig> helperConfigFromJson(const nlohmann::json& merged);

}  // namespace berth::helper
