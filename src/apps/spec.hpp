// A deployment's configuration: what the API accepts, what the store keeps
// and what the agent runs. Pure: JSON in, a validated DeploymentSpec out, every
// failure naming its field. Secrets travel in the same struct but are kept
// apart so callers can seal, redact or drop them in one place.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/source_spec.hpp"
#include "apps/validation.hpp"
#include "common/result.hpp"

namespace berth::apps {

struct Limits {
  std::int64_t cpu_millicores = 0;  // 0 = unlimited
  std::int64_t memory_bytes = 0;
  std::int64_t swap_bytes = -1;  // -1 = runtime default; 0 = none
  std::int64_t pids = 512;
  std::int64_t disk_bytes = 0;
  std::int64_t net_in_bps = 0;  // bits per second into the container
  std::int64_t net_out_bps = 0;
};

struct RegistryAuth {
  std::string username;
  std::string password;
};

// The longest a request may be held waiting for a container (`hold`).
inline constexpr int kMaxHoldMs = 300'000;

struct DeploymentSpec {
  std::string image;  // as given; empty when the app is built from `source`
  ImageReference reference;
  std::vector<std::string> command;  // argv; empty = the image's default
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> secrets;  // delivered as env; never returned or logged
  std::map<std::string, std::string> volumes;  // volume name -> mount path
  std::uint16_t port = 0;                      // the port the app listens on (0 = none)
  std::uint16_t publish = 0;                   // host port bound to `port` (0 = not published)
  bool publish_public = false;                 // bind the host port on every address, not only 127.0.0.1
  std::optional<HealthCheck> health;
  Limits limits;
  int replicas = 1;
  std::vector<std::string> capabilities;  // added back after dropping all
  bool read_only = false;
  std::string user;  // "uid[:gid]" or a name the image knows; empty = the image's USER
  std::optional<RegistryAuth> registry_auth;  // a secret too
  // "always" pulls a tag at every deploy (so a moved tag and the credentials
  // are checked each time); "missing" only when the image is not on the node.
  // Default: always for a registry named in the reference, missing for Docker
  // Hub. A digest (or a rollback's pinned image) is never pulled again.
  std::string pull;
  bool pullAlways() const;
  // Zero-downtime updates of a routed app (docs/routes.md): the old version's
  // in-flight requests get `drain_ms` after the switch before it stops; for
  // `watch_ms` after it berth keeps probing the new one and switches back if it
  // turns unhealthy. `allow_downtime`: when the node cannot hold both versions
  // at once, stop the old one first instead of refusing the update.
  std::int64_t drain_ms = 30'000;
  std::int64_t watch_ms = 60'000;
  // While a running app has no container able to take a request (starting, restarting after a
  // crash, a stop-then-start update), requests wait this long for one, then get 503.
  int hold_ms = 10'000;  // at most kMaxHoldMs
  bool allow_downtime = false;
  // With HTTPS: Strict-Transport-Security on every answer of the app's hosts.
  bool hsts = false;
  // Built from a git repository instead of pulled (docs/builds.md): then `image` is empty and
  // the agent builds `<app>:<short sha>` from the commit the ref resolves to.
  std::optional<SourceSpec> source;
};

// Parses and validates a deployment body (see docs/apps.md for the fields).
// Unknown fields are refused so a typo is not silently ignored.
Result<DeploymentSpec> parseDeploymentSpec(const nlohmann::json& body);
// Parses only the "limits" object (also used by `app limits set`).
Result<Limits> parseLimits(const nlohmann::json& limits, const Limits& base);

// The spec as JSON. Secrets and registry credentials are left out unless
// `with_secrets`; their names are always listed (values never).
nlohmann::json toJson(const DeploymentSpec& spec, bool with_secrets);
nlohmann::json toJson(const Limits& limits);
nlohmann::json toJson(const HealthCheck& check);

// Resources a node can give to apps: what it has minus what it keeps back.
struct Allocatable {
  std::int64_t cpu_millicores = 0;
  std::int64_t memory_bytes = 0;
};
struct Claim {
  std::string app;
  std::int64_t cpu_millicores = 0;
  std::int64_t memory_bytes = 0;
};
Claim claimOf(const std::string& app, const DeploymentSpec& spec);
// Fails "over_capacity" naming the resource when `wanted` plus `others` does not fit.
Result<void> checkCapacity(const Allocatable& node, const std::vector<Claim>& others, const Claim& wanted);

}  // namespace berth::apps
