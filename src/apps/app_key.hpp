// App keys: how an app is named below the API. Pure.
//
// An app's key is its name in the default org ("web") and "<name>.<org>"
// elsewhere ("web.acme"). The store, the agent, container and volume names and
// the generated hostname ("<key>.<base_domain>", so web.acme.<base_domain>) all
// use the key, so two orgs' "web" never meet. App names have no dots, so a key
// is never ambiguous, and a caller's "web.acme" is refused as a name rather
// than reaching another org's app.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth::apps {

inline constexpr const char* kDefaultOrg = "default";

std::string appKey(const std::string& org, const std::string& app);
struct AppRef {
  std::string org;
  std::string name;
};
// The org and name a key stands for (no dot: the default org).
AppRef splitAppKey(const std::string& key);
// An app key: a valid app name, optionally ".<org>" (an RFC 1123 label other than "default").
Result<void> validateAppKey(const std::string& field, const std::string& key);

}  // namespace berth::apps
