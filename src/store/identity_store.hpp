// Users, organisations, memberships, API keys, sessions and invitations: the
// identity part of the control plane's state (Store::identity()). It shares
// the store's database and transactions; same threading rule (one thread).
// Secrets are never stored: keys, sessions and invitations keep sha256 of
// their secret and a public prefix to find the row; users an Argon2id hash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/store.hpp"

namespace berth::store {

struct User {
  std::string id;
  std::string name;           // unique
  std::string password_hash;  // Argon2id encoded; "" = cannot log in
  std::string platform_role = "none";  // admin | staff | none
  std::int64_t created_at = 0;
};

struct Org {
  std::string name;  // unique, an RFC 1123 label
  std::int64_t created_at = 0;
};

struct Membership {
  std::string user_id;
  std::string org;
  std::string role;  // owner | admin | member | viewer
  std::int64_t created_at = 0;
};

struct Session {
  std::string id;  // the token's public prefix
  std::string secret_hash;
  std::string user_id;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
};

struct Invite {
  std::string id;  // the token's public prefix
  std::string secret_hash;
  std::string org;
  std::string role;
  std::string user_name;  // who it is for: an existing user joins, a new one is created
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Fails "conflict" naming the field when the name is taken.
  virtual Result<void> insertUser(const User& user) = 0;
  virtual Result<void> updateUser(const User& user) = 0;
  virtual Result<std::optional<User>> getUser(const std::string& id) = 0;
  virtual Result<std::optional<User>> findUserByName(const std::string& name) = 0;
  // Removes the user, their memberships, sessions and keys.
  virtual Result<void> deleteUser(const std::string& id) = 0;

  // Fails "conflict" when the org exists.
  virtual Result<void> insertOrg(const Org& org) = 0;
  virtual Result<std::optional<Org>> getOrg(const std::string& name) = 0;
  virtual Result<std::vector<Org>> listOrgs() = 0;

  // Inserts or changes the role.
  virtual Result<void> putMembership(const Membership& membership) = 0;
  virtual Result<bool> deleteMembership(const std::string& user_id, const std::string& org) = 0;
  virtual Result<std::vector<Membership>> membershipsOfUser(const std::string& user_id) = 0;
  virtual Result<std::vector<Membership>> membersOfOrg(const std::string& org) = 0;
  // How many owner memberships exist in any org (the bootstrap closes at one).
  virtual Result<std::int64_t> countOwners() = 0;

  // API keys beyond Store::insertApiKey/findApiKey (legacy whole-hash lookup).
  virtual Result<std::optional<ApiKey>> findApiKeyByPrefix(const std::string& prefix) = 0;
  virtual Result<std::optional<ApiKey>> getApiKey(const std::string& id) = 0;
  // Keys of the org (user_id "" = every user's), newest first.
  virtual Result<std::vector<ApiKey>> listApiKeys(const std::string& org, const std::string& user_id) = 0;
  virtual Result<void> updateApiKey(const ApiKey& key) = 0;
  // Revokes (at `at_ms`) every key the user holds in `org`; how many.
  virtual Result<std::int64_t> revokeUserKeys(const std::string& user_id, const std::string& org,
                                              std::int64_t at_ms) = 0;

  virtual Result<void> insertSession(const Session& session) = 0;
  virtual Result<std::optional<Session>> getSession(const std::string& id) = 0;
  virtual Result<void> deleteSession(const std::string& id) = 0;
  // Deletes every session of the user but `keep_id` ("" keeps none); how many.
  virtual Result<std::int64_t> deleteUserSessions(const std::string& user_id, const std::string& keep_id) = 0;
  // Deletes sessions and invitations that expired at or before `now_ms`.
  virtual Result<void> pruneExpired(std::int64_t now_ms) = 0;

  virtual Result<void> insertInvite(const Invite& invite) = 0;
  virtual Result<std::optional<Invite>> getInvite(const std::string& id) = 0;
  // Deletes it; false when it was gone already (used once at most).
  virtual Result<bool> deleteInvite(const std::string& id) = 0;
};

}  // namespace berth::store
