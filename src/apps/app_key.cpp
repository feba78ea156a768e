#include "apps/app_key.hpp"

#include "apps/validation.hpp"

namespace berth::apps {

std::string appKey(const std::string& org, const std::string& app) {
  return org == kDefaultOrg || org.empty() ? app : app + "." + org;
}

AppRef splitAppKey(const std::string& key) {
  const auto dot = key.find('.');
  if (dot == std::string::npos) return {kDefaultOrg, key};
  return {key.substr(dot + 1), key.substr(0, dot)};
}

Result<void> validateAppKey(const std::string& field, const std::string& key) {
  const auto ref = splitAppKey(key);
  if (auto r = validateAppName(field, ref.name); !r) return r;
  if (key.find('.') == std::string::npos) return Ok{};
  if (ref.org == kDefaultOrg) return invalidField(field, "names the default org's apps without a suffix");
  // An org name has the app name's rule (an RFC 1123 label).
  return validateAppName(field, ref.org);
}

}  // namespace berth::apps
