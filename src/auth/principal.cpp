#include "auth/principal.hpp"

namespace berth::auth {

std::string Principal::actor() const {
  if (!key_id.empty()) return "key:" + key_id;
  if (!session_id.empty()) return "session:" + user_name;
  return "anonymous";
}

KeyScope effectiveScope(const Principal& p) {
  // Without a membership only a platform role lets a request in (chooseOrg); staff reads.
  KeyScope ceiling = p.org_role ? roleCeiling(*p.org_role) : KeyScope::Read;
  if (p.platform_role == PlatformRole::Admin) ceiling = KeyScope::Admin;
  return lower(p.credential_scope, ceiling);
}

Result<OrgChoice> chooseOrg(const std::map<std::string, OrgRole>& memberships, PlatformRole platform_role,
                            const std::string& requested, bool org_exists) {
  if (requested.empty()) {
    if (auto it = memberships.find("default"); it != memberships.end()) return OrgChoice{it->first, it->second};
    if (memberships.size() == 1) return OrgChoice{memberships.begin()->first, memberships.begin()->second};
    if (memberships.empty()) return makeError("forbidden", "this user belongs to no organisation");
    return invalidField("X-Berth-Org", "is required: this user belongs to several organisations (berth --org ORG)");
  }
  if (auto it = memberships.find(requested); it != memberships.end()) return OrgChoice{it->first, it->second};
  if (platform_role != PlatformRole::None && org_exists) return OrgChoice{requested, std::nullopt};
  return makeError("not_found", "no organisation named " + requested);
}

Result<void> mayIssueKey(const Principal& p, KeyScope wanted) {
  const auto have = effectiveScope(p);
  if (covers(have, wanted)) return Ok{};
  return makeError("forbidden", std::string("a key with scope ") + scopeName(wanted) + " needs scope " +
                                    scopeName(wanted) + "; this request holds " + scopeName(have));
}

}  // namespace berth::auth
