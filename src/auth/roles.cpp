#include "auth/roles.hpp"

namespace berth::auth {

const char* scopeName(KeyScope scope) {
  switch (scope) {
    case KeyScope::Read:
      return "read";
    case KeyScope::Deploy:
      return "deploy";
    case KeyScope::Admin:
      return "admin";
  }
  return "read";
}

const char* orgRoleName(OrgRole role) {
  switch (role) {
    case OrgRole::Viewer:
      return "viewer";
    case OrgRole::Member:
      return "member";
    case OrgRole::Admin:
      return "admin";
    case OrgRole::Owner:
      return "owner";
  }
  return "viewer";
}

const char* platformRoleName(PlatformRole role) {
  switch (role) {
    case PlatformRole::None:
      return "none";
    case PlatformRole::Staff:
      return "staff";
    case PlatformRole::Admin:
      return "admin";
  }
  return "none";
}

Result<KeyScope> parseScope(const std::string& field, const std::string& text) {
  for (auto s : {KeyScope::Read, KeyScope::Deploy, KeyScope::Admin})
    if (text == scopeName(s)) return s;
  return invalidField(field, "must be read, deploy or admin");
}

Result<OrgRole> parseOrgRole(const std::string& field, const std::string& text) {
  for (auto r : {OrgRole::Viewer, OrgRole::Member, OrgRole::Admin, OrgRole::Owner})
    if (text == orgRoleName(r)) return r;
  return invalidField(field, "must be owner, admin, member or viewer");
}

Result<PlatformRole> parsePlatformRole(const std::string& field, const std::string& text) {
  for (auto r : {PlatformRole::None, PlatformRole::Staff, PlatformRole::Admin})
    if (text == platformRoleName(r)) return r;
  return invalidField(field, "must be admin, staff or none");
}

KeyScope roleCeiling(OrgRole role) {
  switch (role) {
    case OrgRole::Owner:
    case OrgRole::Admin:
      return KeyScope::Admin;
    case OrgRole::Member:
      return KeyScope::Deploy;
    case OrgRole::Viewer:
      return KeyScope::Read;
  }
  return KeyScope::Read;
}

}  // namespace berth::auth
