// Layered configuration: a JSON file, then BERTH_* environment variables, then
// flags; a later layer wins. Each role turns the merged object into its own
// plain struct and validates it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth {

// Reads a JSON object from `path`. An empty path yields an empty object.
Result<nlohmann::json> loadConfigFile(const std::string& path);

// For each key, BERTH_<KEY upper-cased> from `environment` (when set) is parsed
// as JSON if it parses, else kept as a string.
nlohmann::json configFromEnvironment(const std::vector<std::string>& keys,
                                     const std::map<std::string, std::string>& environment);

// The process environment as a map (the one place that reads environ).
std::map<std::string, std::string> processEnvironment();

// Shallow merge: keys of `over` replace keys of `base`.
nlohmann::json mergeConfig(nlohmann::json base, const nlohmann::json& over);

}  // namespace berth
