// Org and user names. Pure. (App keys, which carry the org into names derived
// from an app, are in apps/app_key.hpp: the agent checks them too.)
#pragma once

#include <string>

#include "apps/app_key.hpp"
#include "common/result.hpp"

namespace berth::auth {

using apps::kDefaultOrg;

// An RFC 1123 label: 1 to 63 of [a-z0-9-], starting and ending with a letter or digit.
Result<void> validateOrgName(const std::string& field, const std::string& name);
// 1 to 64 of [a-z0-9._-], starting with a letter or digit.
Result<void> validateUserName(const std::string& field, const std::string& name);

}  // namespace berth::auth
