// Scopes and roles. Pure. A key's scope and its holder's role both cap what a
// request may do: admin ⊃ deploy ⊃ read.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::auth {

enum class KeyScope { Read = 1, Deploy = 2, Admin = 3 };
enum class OrgRole { Viewer = 1, Member = 2, Admin = 3, Owner = 4 };
enum class PlatformRole { None = 0, Staff = 1, Admin = 2 };

const char* scopeName(KeyScope scope);
const char* orgRoleName(OrgRole role);
const char* platformRoleName(PlatformRole role);
// Errors name `field` and list the accepted words.
Result<KeyScope> parseScope(const std::string& field, const std::string& text);
Result<OrgRole> parseOrgRole(const std::string& field, const std::string& text);
Result<PlatformRole> parsePlatformRole(const std::string& field, const std::string& text);

// `have` allows what `need` asks.
inline bool covers(KeyScope have, KeyScope need) { return static_cast<int>(have) >= static_cast<int>(need); }
inline KeyScope lower(KeyScope a, KeyScope b) { return covers(a, b) ? b : a; }

// The most an org role allows: owner and admin everything, member deploy, viewer read.
KeyScope roleCeiling(OrgRole role);

}  // namespace berth::auth
