#include "server/auth_service.hpp"

#include <algorithm>
#include <limits>

#include "auth/credentials.hpp"
#include "auth/names.hpp"
#include "auth/passwords.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"

namespace berth::server {
namespace {

Error invalidKey() { return makeError("unauthorized", "API key is not valid (unknown, revoked or expired)"); }
Error badLogin() { return makeError("unauthorized", "user name or password is wrong"); }

// A string field of `body`, "" when absent; an error when present but not a string.
Result<std::string> stringField(const nlohmann::json& body, const char* field, bool required) {
  if (!body.is_object()) return invalidField("body", "must be a JSON object");
  if (!body.contains(field) || body[field].is_null()) {
    if (required) return invalidField(field, "is required");
    return std::string();
  }
  if (!body[field].is_string()) return invalidField(field, "must be a string");
  return body[field].get<std::string>();
}

// When a key stops working (max when never).
std::int64_t keyEnd(const store::ApiKey& k) {
  std::int64_t end = std::numeric_limits<std::int64_t>::max();
  if (k.revoked_at != 0) end = std::min(end, k.revoked_at);
  if (k.expires_at != 0) end = std::min(end, k.expires_at);
  return end;
}

bool keyLive(const store::ApiKey& k, std::int64_t now) {
  if (k.revoked_at != 0 && k.revoked_at <= now) return false;
  return k.expires_at == 0 || k.expires_at > now;
}

}  // namespace

Result<auth::Principal> AuthService::authenticate(const std::string& bearer, const std::string& org_header) {
  if (bearer.empty()) return makeError("unauthorized", "missing Authorization: Bearer API key or session token");
  const auto now = clock_();
  if (bearer.size() > 200) return invalidKey();
  const std::string cacheKey = sha256Hex(bearer) + "\n" + org_header;
  if (auto it = cache_.find(cacheKey); it != cache_.end()) {
    if (it->second.valid_until > now) return it->second.principal;
    cache_.erase(it);
  }
  std::int64_t validUntil = std::numeric_limits<std::int64_t>::max();
  auto resolved = resolve(bearer, org_header, now, validUntil);
  if (resolved) {
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[cacheKey] = Cached{*resolved, validUntil};
  }
  return resolved;
}

Result<auth::Principal> AuthService::resolve(const std::string& bearer, const std::string& org_header,
                                             std::int64_t now, std::int64_t& valid_until) {
  auto& ids = store_.identity();
  const auto token = auth::parseToken(bearer);
  if (!token) {
    // A key made before prefixes: looked up by the hash of the whole bearer.
    if (bearer.size() > 200) return invalidKey();
    auto key = store_.findApiKey(sha256Hex(bearer));
    if (!key) return key.error();
    if (!*key) return invalidKey();
    valid_until = keyEnd(**key);
    return fromKey(**key, org_header, now);
  }
  if (token->kind == auth::kKeyKind) {
    auto key = ids.findApiKeyByPrefix(token->prefix);
    if (!key) return key.error();
    if (!*key || !auth::secretMatches(token->secret, (*key)->secret_hash)) return invalidKey();
    valid_until = keyEnd(**key);
    return fromKey(**key, org_header, now);
  }
  if (token->kind == auth::kSessionKind) {
    auto session = ids.getSession(token->prefix);
    if (!session) return session.error();
    if (!*session || !auth::secretMatches(token->secret, (*session)->secret_hash) || (*session)->expires_at <= now)
      return makeError("unauthorized", "session is not valid (unknown, ended or expired); run berth login");
    auto user = ids.getUser((*session)->user_id);
    if (!user) return user.error();
    if (!*user) return makeError("unauthorized", "session is not valid (its user was removed)");
    auto p = principalOf(**user, org_header);
    if (!p) return p.error();
    p->session_id = (*session)->id;
    valid_until = (*session)->expires_at;
    p->credential_scope = auth::KeyScope::Admin;  // capped by the role
    return p;
  }
  return makeError("unauthorized", "an invitation token is not a credential; accept it with berth user accept");
}

Result<auth::Principal> AuthService::fromKey(const store::ApiKey& key, const std::string& org_header,
                                             std::int64_t now) {
  if (!keyLive(key, now)) return invalidKey();
  if (!org_header.empty() && org_header != key.org)
    return makeError("forbidden", "this API key acts in organisation " + key.org + " only");
  auto user = store_.identity().getUser(key.user_id);
  if (!user) return user.error();
  if (!*user) return invalidKey();
  auto p = principalOf(**user, key.org);
  if (!p) return p.error().code == "store_error" ? p.error() : invalidKey();
  p->key_id = key.id;
  auto scope = auth::parseScope("scope", key.scope);
  p->credential_scope = scope ? *scope : auth::KeyScope::Read;
  return p;
}

Result<auth::Principal> AuthService::principalOf(const store::User& user, const std::string& org_header) {
  auto& ids = store_.identity();
  auth::Principal p;
  p.user_id = user.id;
  p.user_name = user.name;
  auto platform = auth::parsePlatformRole("platform_role", user.platform_role);
  p.platform_role = platform ? *platform : auth::PlatformRole::None;
  auto memberships = ids.membershipsOfUser(user.id);
  if (!memberships) return memberships.error();
  std::map<std::string, auth::OrgRole> roles;
  for (const auto& m : *memberships) {
    if (auto role = auth::parseOrgRole("role", m.role)) roles[m.org] = *role;
  }
  bool exists = false;
  if (!org_header.empty() && p.platform_role != auth::PlatformRole::None && !roles.count(org_header)) {
    auto org = ids.getOrg(org_header);
    if (!org) return org.error();
    exists = org->has_value();
  }
  auto choice = auth::chooseOrg(roles, p.platform_role, org_header, exists);
  if (!choice) return choice.error();
  p.org = choice->org;
  p.org_role = choice->role;
  return p;
}

Result<std::optional<BootstrapOutcome>> AuthService::bootstrap() {
  std::optional<BootstrapOutcome> outcome;
  auto& ids = store_.identity();
  auto done = store_.transaction([&]() -> Result<void> {
    auto closed = store_.getSetting("bootstrap_closed");
    if (!closed) return closed.error();
    auto legacy = store_.getSetting("admin_key_created");
    if (!legacy) return legacy.error();
    auto owners = ids.countOwners();
    if (!owners) return owners.error();
    if (*closed || *legacy || *owners > 0) return Ok{};
    const auto now = clock_();
    if (auto org = ids.getOrg(auth::kDefaultOrg); !org) {
      return org.error();
    } else if (!*org) {
      if (auto r = ids.insertOrg({auth::kDefaultOrg, now}); !r) return r;
    }
    store::User user{newId("u"), "owner", "", "admin", now};
    if (auto existing = ids.findUserByName(user.name); !existing) {
      return existing.error();
    } else if (*existing) {
      user = **existing;
    } else if (auto r = ids.insertUser(user); !r) {
      return r;
    }
    if (auto r = ids.putMembership({user.id, auth::kDefaultOrg, "owner", now}); !r) return r;
    const auto minted = auth::mintToken(auth::kKeyKind);
    store::ApiKey key;
    key.id = newId("key");
    key.name = "owner";
    key.secret_hash = minted.secret_hash;
    key.prefix = minted.prefix;
    key.user_id = user.id;
    key.org = auth::kDefaultOrg;
    key.scope = key.role = "admin";
    key.created_at = now;
    if (auto r = store_.insertApiKey(key); !r) return r;
    if (auto r = store_.putSetting("bootstrap_closed", key.id); !r) return r;
    if (auto r = store_.putSetting("admin_key_created", key.id); !r) return r;
    outcome = BootstrapOutcome{minted.text, user.name};
    return Ok{};
  });
  if (!done) return done.error();
  if (!outcome) log::info("bootstrap closed: an owner exists");
  return outcome;
}

Result<nlohmann::json> AuthService::login(const nlohmann::json& body, std::string& user_id) {
  auto name = stringField(body, "name", true);
  if (!name) return name.error();
  auto password = stringField(body, "password", true);
  if (!password) return password.error();
  if (name->size() > 64 || password->size() > auth::kMaxPasswordLength) return badLogin();
  auto& ids = store_.identity();
  auto user = ids.findUserByName(*name);
  if (!user) return user.error();
  if (!*user) {
    // The same work as a real check, so timing does not tell which names exist.
    static const std::string dummy = [] {
      auto hash = auth::hashPassword("not a password of anyone");
      return hash ? *hash : std::string();
    }();
    (void)auth::verifyPassword(*password, dummy);
    return badLogin();
  }
  user_id = (*user)->id;
  if (!auth::verifyPassword(*password, (*user)->password_hash)) return badLogin();
  const auto now = clock_();
  if (auto r = ids.pruneExpired(now); !r) return r.error();
  const auto minted = auth::mintToken(auth::kSessionKind);
  store::Session session{minted.prefix, minted.secret_hash, (*user)->id, now, now + kSessionTtlMs};
  if (auto r = ids.insertSession(session); !r) return r.error();
  return nlohmann::json{{"token", minted.text}, {"expires_at", session.expires_at}, {"user", (*user)->name}};
}

Result<void> AuthService::logout(const auth::Principal& p) {
  forget();
  if (p.session_id.empty()) return invalidField("Authorization", "must be a session token to log out");
  return store_.identity().deleteSession(p.session_id);
}

nlohmann::json AuthService::whoami(const auth::Principal& p) {
  return {{"user", p.user_name},
          {"user_id", p.user_id},
          {"org", p.org},
          {"role", p.org_role ? nlohmann::json(auth::orgRoleName(*p.org_role)) : nlohmann::json()},
          {"platform_role", auth::platformRoleName(p.platform_role)},
          {"key_id", p.key_id.empty() ? nlohmann::json() : nlohmann::json(p.key_id)},
          {"session", !p.session_id.empty()},
          {"scope", auth::scopeName(auth::effectiveScope(p))}};
}

Result<void> AuthService::setPassword(const auth::Principal& p, const nlohmann::json& body) {
  forget();
  auto password = stringField(body, "password", true);
  if (!password) return password.error();
  if (auto r = auth::validatePassword("password", *password); !r) return r;
  auto user = store_.identity().getUser(p.user_id);
  if (!user) return user.error();
  if (!*user) return makeError("not_found", "no such user");
  // Without a password yet (the bootstrap owner) only an admin key sets the first one: a
  // read or deploy key of the owner would otherwise make itself a session with every right.
  if ((*user)->password_hash.empty() && !auth::covers(p.credential_scope, auth::KeyScope::Admin))
    return makeError("forbidden", std::string("user ") + (*user)->name +
                                      " has no password yet; set the first one with an admin key, not a " +
                                      auth::scopeName(p.credential_scope) + " key");
  // A stolen session must not lock the owner out: changing a set password needs the current one.
  if (!(*user)->password_hash.empty()) {
    auto current = stringField(body, "current_password", true);
    if (!current) return current.error();
    if (!auth::verifyPassword(*current, (*user)->password_hash))
      return makeError("forbidden", "field 'current_password': does not match");
  }
  auto hash = auth::hashPassword(*password);
  if (!hash) return hash.error();
  store::User updated = **user;
  updated.password_hash = *hash;
  if (auto r = store_.identity().updateUser(updated); !r) return r;
  // A new password ends every other session of the user: one stolen before the change stops now.
  auto ended = store_.identity().deleteUserSessions(p.user_id, p.session_id);
  if (!ended) return ended.error();
  return Ok{};
}

nlohmann::json AuthService::keyJson(const store::ApiKey& k, std::int64_t now) {
  std::string state = "active";
  if (k.revoked_at != 0) state = k.revoked_at <= now ? "revoked" : "overlap";
  if (k.expires_at != 0 && k.expires_at <= now) state = "expired";
  std::string user = k.user_id;
  if (auto u = store_.identity().getUser(k.user_id); u && *u) user = (*u)->name;
  return {{"id", k.id},
          {"name", k.name},
          {"prefix", k.prefix.empty() ? nlohmann::json() : nlohmann::json(k.prefix)},
          {"org", k.org},
          {"user", user},
          {"scope", k.scope},
          {"created_at", k.created_at},
          {"expires_at", k.expires_at},
          {"revoked_at", k.revoked_at},
          {"state", state}};
}

Result<nlohmann::json> AuthService::createKey(const auth::Principal& p, const nlohmann::json& body) {
  const auto& b = body.is_null() ? nlohmann::json::object() : body;
  auto scopeText = stringField(b, "scope", true);
  if (!scopeText) return scopeText.error();
  auto scope = auth::parseScope("scope", *scopeText);
  if (!scope) return scope.error();
  if (auto r = auth::mayIssueKey(p, *scope); !r) return r.error();
  auto name = stringField(b, "name", false);
  if (!name) return name.error();
  if (name->size() > 100) return invalidField("name", "must be at most 100 characters");
  for (unsigned char c : *name)
    if (c < 0x20 || c == 0x7f) return invalidField("name", "must not contain control characters");
  auto expiresIn = stringField(b, "expires_in", false);
  if (!expiresIn) return expiresIn.error();
  const auto now = clock_();
  store::ApiKey key;
  if (!expiresIn->empty()) {
    auto ms = auth::parseLifetime("expires_in", *expiresIn, kMaxKeyLifetimeMs);
    if (!ms) return ms.error();
    if (*ms > 0) key.expires_at = now + *ms;
  }
  const auto minted = auth::mintToken(auth::kKeyKind);
  key.id = newId("key");
  key.name = name->empty() ? std::string(auth::scopeName(*scope)) + " key" : *name;
  key.secret_hash = minted.secret_hash;
  key.prefix = minted.prefix;
  key.user_id = p.user_id;
  key.org = p.org;
  key.scope = key.role = auth::scopeName(*scope);
  key.created_at = now;
  if (auto r = store_.insertApiKey(key); !r) return r.error();
  auto out = keyJson(key, now);
  out["key"] = minted.text;
  return out;
}

Result<nlohmann::json> AuthService::listKeys(const auth::Principal& p) {
  const bool all = auth::covers(auth::effectiveScope(p), auth::KeyScope::Admin);
  auto keys = store_.identity().listApiKeys(p.org, all ? "" : p.user_id);
  if (!keys) return keys.error();
  const auto now = clock_();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& k : *keys) out.push_back(keyJson(k, now));
  return nlohmann::json{{"keys", out}};
}

Result<store::ApiKey> AuthService::ownedKey(const auth::Principal& p, const std::string& id) {
  auto key = store_.identity().getApiKey(id);
  if (!key) return key.error();
  // Another org's key answers exactly as a missing one.
  if (!*key || (*key)->org != p.org) return makeError("not_found", "no API key " + id);
  if ((*key)->user_id != p.user_id && !auth::covers(auth::effectiveScope(p), auth::KeyScope::Admin))
    return makeError("forbidden", "only an admin of " + p.org + " may change another user's key");
  return **key;
}

Result<nlohmann::json> AuthService::revokeKey(const auth::Principal& p, const std::string& id) {
  forget();
  auto key = ownedKey(p, id);
  if (!key) return key.error();
  const auto now = clock_();
  if (key->revoked_at == 0 || key->revoked_at > now) key->revoked_at = now;
  if (auto r = store_.identity().updateApiKey(*key); !r) return r.error();
  return keyJson(*key, now);
}

Result<nlohmann::json> AuthService::rotateKey(const auth::Principal& p, const std::string& id,
                                              const nlohmann::json& body) {
  forget();
  auto old = ownedKey(p, id);
  if (!old) return old.error();
  // The new secret goes to the caller and acts as the key's user: handing it to
  // anyone else (an org admin rotating the owner's key) would let them act as
  // that user, platform role included.
  if (old->user_id != p.user_id)
    return makeError("forbidden", "API key " + id + " belongs to another user; only they may rotate it (revoke it instead)");
  const auto now = clock_();
  if (!keyLive(*old, now) || old->revoked_at != 0)
    return makeError("conflict", "API key " + id + " is revoked, rotating or expired; create a new one");
  auto scope = auth::parseScope("scope", old->scope);
  if (!scope) return scope.error();
  if (auto r = auth::mayIssueKey(p, *scope); !r) return r.error();
  const auto& b = body.is_null() ? nlohmann::json::object() : body;
  auto overlapText = stringField(b, "overlap", false);
  if (!overlapText) return overlapText.error();
  std::int64_t overlap = 0;
  if (!overlapText->empty()) {
    auto ms = auth::parseLifetime("overlap", *overlapText, kMaxOverlapMs);
    if (!ms) return ms.error();
    overlap = *ms;
  }
  const auto minted = auth::mintToken(auth::kKeyKind);
  store::ApiKey next = *old;
  next.id = newId("key");
  next.secret_hash = minted.secret_hash;
  next.prefix = minted.prefix;
  next.created_at = now;
  next.revoked_at = 0;
  if (auto r = store_.insertApiKey(next); !r) return r.error();
  old->revoked_at = now + overlap;
  if (auto r = store_.identity().updateApiKey(*old); !r) return r.error();
  auto out = keyJson(next, now);
  out["key"] = minted.text;
  out["replaces"] = keyJson(*old, now);
  return out;
}

Result<nlohmann::json> AuthService::createOrg(const auth::Principal& p, const nlohmann::json& body) {
  forget();
  auto name = stringField(body, "name", true);
  if (!name) return name.error();
  if (auto r = auth::validateOrgName("name", *name); !r) return r.error();
  const auto now = clock_();
  auto& ids = store_.identity();
  if (auto r = ids.insertOrg({*name, now}); !r) return r.error();
  if (auto r = ids.putMembership({p.user_id, *name, "owner", now}); !r) return r.error();
  return nlohmann::json{{"name", *name}, {"created_at", now}, {"role", "owner"}};
}

Result<nlohmann::json> AuthService::listOrgs(const auth::Principal& p) {
  auto& ids = store_.identity();
  auto memberships = ids.membershipsOfUser(p.user_id);
  if (!memberships) return memberships.error();
  std::map<std::string, std::string> roles;
  for (const auto& m : *memberships) roles[m.org] = m.role;
  auto orgs = ids.listOrgs();
  if (!orgs) return orgs.error();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& o : *orgs) {
    const auto it = roles.find(o.name);
    if (it == roles.end() && p.platform_role == auth::PlatformRole::None) continue;
    out.push_back({{"name", o.name},
                   {"created_at", o.created_at},
                   {"role", it == roles.end() ? nlohmann::json() : nlohmann::json(it->second)}});
  }
  return nlohmann::json{{"orgs", out}};
}

Result<nlohmann::json> AuthService::invite(const auth::Principal& p, const nlohmann::json& body) {
  auto name = stringField(body, "name", true);
  if (!name) return name.error();
  if (auto r = auth::validateUserName("name", *name); !r) return r.error();
  auto roleText = stringField(body, "role", false);
  if (!roleText) return roleText.error();
  auto role = auth::parseOrgRole("role", roleText->empty() ? "member" : *roleText);
  if (!role) return role.error();
  // Only an owner (or a platform admin) makes owners; nobody grants above their own role.
  const bool owner = p.platformAdmin() || (p.org_role && *p.org_role == auth::OrgRole::Owner);
  if (*role == auth::OrgRole::Owner && !owner)
    return makeError("forbidden", "field 'role': only an owner of " + p.org + " may invite an owner");
  auto expiresIn = stringField(body, "expires_in", false);
  if (!expiresIn) return expiresIn.error();
  std::int64_t ttl = kDefaultInviteTtlMs;
  if (!expiresIn->empty()) {
    auto ms = auth::parseLifetime("expires_in", *expiresIn, kMaxInviteTtlMs);
    if (!ms) return ms.error();
    if (*ms == 0) return invalidField("expires_in", "must be more than 0");
    ttl = *ms;
  }
  const auto now = clock_();
  auto& ids = store_.identity();
  if (auto r = ids.pruneExpired(now); !r) return r.error();
  const auto minted = auth::mintToken(auth::kInviteKind);
  store::Invite invite{minted.prefix, minted.secret_hash, p.org, auth::orgRoleName(*role), *name, p.actor(), now,
                       now + ttl};
  if (auto r = ids.insertInvite(invite); !r) return r.error();
  return nlohmann::json{{"token", minted.text},
                        {"name", *name},
                        {"org", p.org},
                        {"role", invite.role},
                        {"expires_at", invite.expires_at}};
}

Result<nlohmann::json> AuthService::acceptInvite(const nlohmann::json& body) {
  forget();
  auto tokenText = stringField(body, "token", true);
  if (!tokenText) return tokenText.error();
  auto password = stringField(body, "password", true);
  if (!password) return password.error();
  const Error unusable = makeError("unauthorized", "invitation is not valid (unknown, already used or expired)");
  const auto token = auth::parseToken(*tokenText);
  if (!token || token->kind != auth::kInviteKind) return unusable;
  auto& ids = store_.identity();
  auto invite = ids.getInvite(token->prefix);
  if (!invite) return invite.error();
  const auto now = clock_();
  if (!*invite || !auth::secretMatches(token->secret, (*invite)->secret_hash) || (*invite)->expires_at <= now)
    return unusable;
  auto user = ids.findUserByName((*invite)->user_name);
  if (!user) return user.error();
  store::User joined;
  if (*user) {
    // An existing account proves its own password; an invitation never resets it.
    if (!auth::verifyPassword(*password, (*user)->password_hash))
      return makeError("unauthorized", "user " + (*user)->name + " exists: give that user's current password");
    joined = **user;
    // An invitation adds or raises a membership, never lowers one: accepting a
    // viewer invitation must not leave an org without its last owner.
    auto memberships = ids.membershipsOfUser(joined.id);
    if (!memberships) return memberships.error();
    auto invited = auth::parseOrgRole("role", (*invite)->role);
    if (!invited) return invited.error();
    for (const auto& m : *memberships) {
      auto held = auth::parseOrgRole("role", m.role);
      if (m.org == (*invite)->org && held && static_cast<int>(*held) > static_cast<int>(*invited))
        return makeError("conflict", "user " + joined.name + " is " + m.role + " of " + m.org +
                                         " already; an invitation never lowers a role");
    }
  } else {
    if (auto r = auth::validatePassword("password", *password); !r) return r.error();
    auto hash = auth::hashPassword(*password);
    if (!hash) return hash.error();
    joined = store::User{newId("u"), (*invite)->user_name, *hash, "none", now};
    if (auto r = ids.insertUser(joined); !r) return r.error();
  }
  // Deleting is the claim: of two racing acceptances only one removes the row.
  auto claimed = ids.deleteInvite((*invite)->id);
  if (!claimed) return claimed.error();
  if (!*claimed) return unusable;
  if (auto r = ids.putMembership({joined.id, (*invite)->org, (*invite)->role, now}); !r) return r.error();
  return nlohmann::json{{"user", joined.name}, {"org", (*invite)->org}, {"role", (*invite)->role}};
}

Result<nlohmann::json> AuthService::listUsers(const auth::Principal& p) {
  auto& ids = store_.identity();
  auto members = ids.membersOfOrg(p.org);
  if (!members) return members.error();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : *members) {
    auto user = ids.getUser(m.user_id);
    if (!user) return user.error();
    if (!*user) continue;
    out.push_back({{"name", (*user)->name}, {"role", m.role}, {"since", m.created_at}});
  }
  return nlohmann::json{{"org", p.org}, {"users", out}};
}

Result<nlohmann::json> AuthService::removeUser(const auth::Principal& p, const std::string& name) {
  forget();
  auto& ids = store_.identity();
  const Error missing = makeError("not_found", "no user " + name + " in " + p.org);
  auto user = ids.findUserByName(name);
  if (!user) return user.error();
  if (!*user) return missing;
  auto memberships = ids.membersOfOrg(p.org);
  if (!memberships) return memberships.error();
  std::string role;
  int owners = 0;
  for (const auto& m : *memberships) {
    if (m.role == "owner") ++owners;
    if (m.user_id == (*user)->id) role = m.role;
  }
  if (role.empty()) return missing;
  const bool callerOwner = p.platformAdmin() || (p.org_role && *p.org_role == auth::OrgRole::Owner);
  if (role == "owner" && !callerOwner) return makeError("forbidden", "only an owner may remove an owner");
  if (role == "owner" && owners <= 1)
    return makeError("conflict", "user " + name + " is the last owner of " + p.org + "; make another owner first");
  if (auto r = ids.deleteMembership((*user)->id, p.org); !r) return r.error();
  auto revoked = ids.revokeUserKeys((*user)->id, p.org, clock_());
  if (!revoked) return revoked.error();
  return nlohmann::json{{"user", name}, {"org", p.org}, {"keys_revoked", *revoked}};
}

}  // namespace berth::server
