// Apps built from git (issue 11, docs/builds.md): each app's source
// credentials and hook secret (sealed by the server before they get here) and
// the webhook deliveries seen, so a redelivery deploys once, and the pushes that
// deployed, so an old delivery replayed later does not. Part of the Store
// (Store::sources()); same threading rules.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::store {

struct AppSource {
  std::string app;                 // the app key
  std::string kind;                // "" (none: a public repository), "https" (token) or "ssh" (deploy key)
  std::string username;            // https: the user the token goes with
  std::string sealed_credentials;  // sealed JSON: {"token"} or {"deploy_key"} (OpenSSH private key text)
  std::string public_key;          // ssh: the deploy key's public line (shown on every GET)
  std::string host_key;            // ssh: the pinned host key fingerprint ("" until given or trusted)
  nlohmann::json offered_host_keys = nlohmann::json::array();  // what the last keyscan offered
  std::int64_t offered_at = 0;
  std::string sealed_hook_secret;  // sealed webhook secret ("" = none: every webhook is refused)
  nlohmann::json plan_override = nullptr;  // build-plan override used when a deploy gives none
  std::int64_t updated_at = 0;
};

// The pushes that deployed a branch of an app (see recordHookPush), as a push of `commit` meets them.
struct HookPushes {
  bool commit_seen = false;           // a push of this commit deployed the branch before
  std::int64_t newest_pushed_at = 0;  // the newest push time recorded for the branch (0 none)
};

class SourceStore {
 public:
  virtual ~SourceStore() = default;
  virtual Result<std::optional<AppSource>> getAppSource(const std::string& app) = 0;
  virtual Result<void> putAppSource(const AppSource& source) = 0;
  // Notes webhook delivery `id` for `app` at `at` and forgets deliveries older
  // than `forget_before`; false when the app already had that delivery.
  virtual Result<bool> recordHookDelivery(const std::string& app, const std::string& id, std::int64_t at,
                                          std::int64_t forget_before) = 0;
  // Notes that a push of `commit` (pushed at `pushed_at` seconds, 0 unknown) deployed `branch`
  // of `app` at `at`; keeps the newest `keep` of the branch (by `at`).
  virtual Result<void> recordHookPush(const std::string& app, const std::string& branch, const std::string& commit,
                                      std::int64_t pushed_at, std::int64_t at, int keep) = 0;
  virtual Result<HookPushes> hookPushes(const std::string& app, const std::string& branch,
                                        const std::string& commit) = 0;
};

}  // namespace berth::store
