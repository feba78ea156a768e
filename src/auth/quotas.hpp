// Quotas per org and the admission decision. Pure: the server gathers an
// org's current use (server/admission.*) and asks admit() whether a request's
// addition fits. A refusal names the quota, its limit and the current use.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::auth {

// What an org holds (or a request adds) of each quota's resource.
struct Usage {
  std::int64_t apps = 0;
  std::int64_t deployments_last_hour = 0;
  std::int64_t cpu_millicores = 0;  // sum of limits.cpu x replicas
  std::int64_t memory_bytes = 0;    // sum of limits.memory x replicas
  std::int64_t disk_bytes = 0;      // sum of limits.disk x replicas
  std::int64_t domains = 0;         // custom domains
  std::int64_t builds_running = 0;
};

// nullopt: no limit. Every limit is >= 0 (0 forbids the resource).
struct Quotas {
  std::optional<std::int64_t> apps;
  std::optional<std::int64_t> deployments_per_hour;
  std::optional<std::int64_t> cpu_millicores;
  std::optional<std::int64_t> memory_bytes;
  std::optional<std::int64_t> disk_bytes;
  std::optional<std::int64_t> domains;
  std::optional<std::int64_t> builds_running;
};

// The quota names, as JSON keys and in refusals: apps, deployments_per_hour,
// cpu, memory, disk, domains, builds_running.
const std::vector<std::string>& quotaNames();

// `current` is the org's use without the request; `adding` what the request
// adds and `releasing` what it gives back (the app's previous deployment when
// a deployment replaces it). A resource the request does not grow is always
// admitted, so an org over a lowered quota can still shrink. When a cpu,
// memory or disk quota is set, a deployment must declare that limit
// (`declares_*`), or its use could not be counted. Fails "quota_exceeded"
// naming the quota, its limit and the current use.
struct Request {
  Usage adding;
  Usage releasing;
  bool deployment = false;  // checks the declared limits below
  bool declares_cpu = false;
  bool declares_memory = false;
  bool declares_disk = false;
};
Result<void> admit(const std::string& org, const Quotas& quotas, const Usage& current, const Request& request);

// {"apps": 10, "cpu": "4", "memory": "8g", ...}: merges into `base`; a null
// value clears that quota; unknown keys and negative or odd values fail naming the field.
Result<Quotas> mergeQuotas(const Quotas& base, const nlohmann::json& body);
// Canonical form, as stored and answered: {"apps": 10, "cpu_millicores": 4000,
// "memory_bytes": ..., ...}; unset quotas are null.
nlohmann::json quotasJson(const Quotas& quotas);
Result<Quotas> quotasFromJson(const nlohmann::json& stored);
nlohmann::json usageJson(const Usage& usage);

}  // namespace berth::auth
