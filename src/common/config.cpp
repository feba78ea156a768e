#include "common/config.hpp"
#include "common/json.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

extern char** environ;

namespace berth {

Result<nlohmann::json> loadConfigFile(const std::string& path) {
  if (path.empty()) return nlohmann::json::object();
  std::ifstream in(path);
  if (!in) return makeError("config_unreadable", "config file " + path + ": cannot be opened");
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto parsed = parseJsonOrDiscarded(buffer.str());
  if (parsed.is_discarded() || !parsed.is_object()) {
    return makeError("config_invalid", "config file " + path + ": must be a JSON object");
  }
  return parsed;
}

nlohmann::json configFromEnvironment(const std::vector<std::string>& keys,
                                     const std::map<std::string, std::string>& environment) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& key : keys) {
    std::string name = "BERTH_" + key;
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    auto it = environment.find(name);
    if (it == environment.end()) continue;
    auto parsed = parseJsonOrDiscarded(it->second);
    out[key] = (parsed.is_discarded() || parsed.is_object() || parsed.is_array()) ? nlohmann::json(it->second) : parsed;
  }
  return out;
}

std::map<std::string, std::string> processEnvironment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string text(*entry);
    auto eq = text.find('=');
    if (eq != std::string::npos) out[text.substr(0, eq)] = text.substr(eq + 1);
  }
  return out;
}

nlohmann::json mergeConfig(nlohmann::json base, const nlohmann::json& over) {
  for (auto it = over.begin(); it != over.end(); ++it) base[it.key()] = it.value();
  return base;
}

}  // namespace berth
