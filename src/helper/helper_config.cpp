#include "helper/helper_config.hpp"

#include <algorithm>

#include "common/logging.hpp"
#include "helper/helper_verbs.hpp"

namespace berth::helper {
namespace {

Error configError(const std::string& field, const std::string& rule) {
  return makeError("invalid_config", "config field '" + field + "': " + rule);
}

Result<std::vector<std::string>> pathList(const nlohmann::json& v, const std::string& field) {
  std::vector<std::string> items;
  if (v.is_string()) {
    std::string text = v.get<std::string>() + ",", item;
    for (char c : text) {
      if (c != ',') {
        item += c;
      } else if (!item.empty()) {
        items.push_back(item);
        item.clear();
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) return configError(field, "must be a list of paths");
      items.push_back(e);
    }
  } else {
    return configError(field, "must be a list of paths");
  }
  for (const auto& p : items)
    if (!checkPathText(field, p)) return configError(field, "must hold absolute paths of plain characters without '.' or '..' components");
  return items;
}

Result<int> seconds(const nlohmann::json& v, const std::string& field, int min, int max) {
  long long n = 0;
  if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() < 10 &&
             v.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
    n = std::stoll(v.get<std::string>());
  } else {
    return configError(field, "must be an integer");
  }
  if (n < min || n > max) return configError(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return static_cast<int>(n);
}

}  // namespace

const std::vector<std::string>& helperConfigKeys() {
  static const std::vector<std::string> keys = {"socket",     "socket_group",          "key_file",
                                                "proxy_dirs", "writable_files",        "proxy_user",
                                                "log_level",  "max_request_lifetime_s", "clock_skew_s"};
  return keys;
}

Result<HelperConfig> helperConfigFromJson(const nlohmann::json& merged) {
  HelperConfig c;
  const auto& keys = helperConfigKeys();
  for (auto it = merged.begin(); it != merged.end(); ++it)
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) return configError(it.key(), "is not a known setting");
  std::pair<const char*, std::string*> strings[] = {{"socket", &c.socket},         {"socket_group", &c.socket_group},
                                                    {"key_file", &c.key_file},     {"proxy_user", &c.proxy_user},
                                                    {"log_level", &c.log_level}};
  for (auto& [name, target] : strings) {
    if (!merged.contains(name)) continue;
    if (!merged[name].is_string()) return configError(name, "must be a string");
    *target = merged[name];
  }
  for (auto [name, path] : {std::pair{"socket", &c.socket}, std::pair{"key_file", &c.key_file}})
    if (auto r = checkPathText(name, *path); !r) return configError(name, "must be an absolute path of plain characters");
  for (auto [name, text] : {std::pair{"socket_group", &c.socket_group}, std::pair{"proxy_user", &c.proxy_user}})
    if (text->empty() || text->size() > 32 ||
        text->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
      return configError(name, "must be a user or group name (a-z, 0-9, _ and -)");
  if (merged.contains("proxy_dirs")) {
    auto dirs = pathList(merged["proxy_dirs"], "proxy_dirs");
    if (!dirs) return dirs.error();
    c.proxy_dirs = *dirs;
  }
  if (merged.contains("writable_files")) {
    auto files = pathList(merged["writable_files"], "writable_files");
    if (!files) return files.error();
    c.writable_files = *files;
  }
  if (merged.contains("max_request_lifetime_s")) {
    auto s = seconds(merged["max_request_lifetime_s"], "max_request_lifetime_s", 1, 300);
    if (!s) return s.error();
    c.max_request_lifetime_s = *s;
  }
  if (merged.contains("clock_skew_s")) {
    auto s = seconds(merged["clock_skew_s"], "clock_skew_s", 0, 60);
    if (!s) return s.error();
    c.clock_skew_s = *s;
  }
  log::Level level;
  if (!log::parseLevel(c.log_level, level)) return configError("log_level", "must be debug, info, warn or error");
  return c;
}

}  // namespace berth::helper
