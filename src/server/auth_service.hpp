// Identity and access at the control plane: resolves a bearer to a
// Principal, logs users in, issues, lists, revokes and rotates API keys,
// creates orgs, invites and removes users, and runs the first-start
// bootstrap. Decisions come from auth/ (pure); rows from store::IdentityStore.
// Single-threaded: the server's I/O thread. Errors: "unauthorized" (401) for
// any unusable credential, "forbidden" (403) for a scope or role too low,
// "not_found" (404) for anything in another org, worded as if it did not exist.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/principal.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "store/identity_store.hpp"
#include "store/store.hpp"

namespace berth::server {

inline constexpr std::int64_t kSessionTtlMs = 12LL * 3600 * 1000;
inline constexpr std::int64_t kMaxKeyLifetimeMs = 3650LL * 86'400'000;
inline constexpr std::int64_t kMaxOverlapMs = 30LL * 86'400'000;
inline constexpr std::int64_t kMaxInviteTtlMs = 30LL * 86'400'000;
inline constexpr std::int64_t kDefaultInviteTtlMs = 7LL * 86'400'000;

struct BootstrapOutcome {
  std::string key;  // the owner key (shown once)
  std::string user;
};

class AuthService {
 public:
  AuthService(store::Store& store, Clock clock) : store_(store), clock_(std::move(clock)) {}

  // The principal of `bearer` acting in `org_header` ("" = its own or default org).
  Result<auth::Principal> authenticate(const std::string& bearer, const std::string& org_header);

  // On a store with no owner, and only once ever: the user "owner" (platform
  // admin, no password), its owner membership of "default" and an admin key
  // of it. nullopt when closed (an owner exists or it ran before).
  Result<std::optional<BootstrapOutcome>> bootstrap();

  // body {name, password}: a session token. Fails "unauthorized" with one
  // message for an unknown user and a wrong password. `user_id` is set to the
  // user's id when the name was known (for the audit), never the password.
  Result<nlohmann::json> login(const nlohmann::json& body, std::string& user_id);
  Result<void> logout(const auth::Principal& p);
  nlohmann::json whoami(const auth::Principal& p);
  // body {password, current_password?}: sets the caller's own password.
  Result<void> setPassword(const auth::Principal& p, const nlohmann::json& body);

  // body {name?, scope, expires_in?}: the key, its secret shown once.
  Result<nlohmann::json> createKey(const auth::Principal& p, const nlohmann::json& body);
  // The caller's keys; with admin scope, every key of the org.
  Result<nlohmann::json> listKeys(const auth::Principal& p);
  Result<nlohmann::json> revokeKey(const auth::Principal& p, const std::string& id);
  // body {overlap?}: a new key like the old; the old one stops at once or at the end of the overlap.
  Result<nlohmann::json> rotateKey(const auth::Principal& p, const std::string& id, const nlohmann::json& body);

  // body {name}: a new org; the caller becomes its owner.
  Result<nlohmann::json> createOrg(const auth::Principal& p, const nlohmann::json& body);
  Result<nlohmann::json> listOrgs(const auth::Principal& p);

  // body {name, role?, expires_in?}: a one-time invitation token into the caller's org.
  Result<nlohmann::json> invite(const auth::Principal& p, const nlohmann::json& body);
  // body {token, password}: a new user gets `password`; an existing one proves theirs.
  Result<nlohmann::json> acceptInvite(const nlohmann::json& body);
  Result<nlohmann::json> listUsers(const auth::Principal& p);
  // Removes the user from the caller's org and revokes their keys in it.
  Result<nlohmann::json> removeUser(const auth::Principal& p, const std::string& name);

 private:
  // authenticate() without the cache; `valid_until` set to when the credential stops.
  Result<auth::Principal> resolve(const std::string& bearer, const std::string& org_header, std::int64_t now,
                                  std::int64_t& valid_until);
  Result<auth::Principal> principalOf(const store::User& user, const std::string& org_header);
  Result<auth::Principal> fromKey(const store::ApiKey& key, const std::string& org_header, std::int64_t now);
  // The caller's key `id`, or not_found (also for another org's key); others' keys need admin scope.
  Result<store::ApiKey> ownedKey(const auth::Principal& p, const std::string& id);
  nlohmann::json keyJson(const store::ApiKey& key, std::int64_t now);

  // Every change of users, memberships, keys or sessions goes through here and empties the cache.
  void forget() { cache_.clear(); }

  store::Store& store_;
  Clock clock_;
  // sha256(bearer) + "\n" + org header -> the principal and when it stops being valid (key
  // expiry or revocation, session expiry). Saves three store reads per request; only
  // this class changes identity rows, and each change calls forget().
  struct Cached {
    auth::Principal principal;
    std::int64_t valid_until = 0;
  };
  std::unordered_map<std::string, Cached> cache_;
  static constexpr std::size_t kMaxCached = 10000;
};

}  // namespace berth::server
