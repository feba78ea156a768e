// Who a request is, and what it may do. Pure. Every authenticated REST call
// resolves to one Principal (server/auth_service); routes compare its
// effective scope with the scope they declare.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "auth/roles.hpp"
#include "common/result.hpp"

namespace berth::auth {

struct Principal {
  std::string user_id;
  std::string user_name;
  std::string org;  // the org every org resource of this request is looked up in
  // The caller's role in `org`; nullopt when a platform admin or staff acts in
  // an org they are no member of.
  std::optional<OrgRole> org_role;
  PlatformRole platform_role = PlatformRole::None;
  std::string key_id;      // set when the bearer was an API key
  std::string session_id;  // set when it was a session token
  KeyScope credential_scope = KeyScope::Read;  // the key's scope; a session's is admin

  // "key:<id>" or "session:<user name>": who the audit names.
  std::string actor() const;
  bool platformAdmin() const { return platform_role == PlatformRole::Admin; }
};

// The scope the request holds: the credential's scope capped by the org role,
// or by the platform role when the caller is no member (admin: admin, staff:
// read). A member's admin key is worth deploy.
KeyScope effectiveScope(const Principal& principal);

struct OrgChoice {
  std::string org;
  std::optional<OrgRole> role;
};

// The org a session acts in. `memberships` maps org -> role; `requested` is the
// X-Berth-Org header ("" = none). Without a request: "default" when a member
// of it, else the only membership. A platform admin or staff may name any org
// `org_exists` says exists. Fails "not_found" (same words whether the org is
// missing or closed to the caller) or "invalid_argument" (several orgs, none named).
Result<OrgChoice> chooseOrg(const std::map<std::string, OrgRole>& memberships, PlatformRole platform_role,
                            const std::string& requested, bool org_exists);

// A key with `wanted` may be made by `principal`: never above its effective
// scope (a member cannot make an admin key). Fails "forbidden" naming both.
Result<void> mayIssueKey(const Principal& principal, KeyScope wanted);

}  // namespace berth::auth
