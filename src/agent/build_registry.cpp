#include "agent/build_registry.hpp"

namespace berth::agent {

BuildRegistry::Entry::~Entry() { registry_.finish(app_, flag_); }

std::unique_ptr<BuildRegistry::Entry> BuildRegistry::start(const std::string& app) {
  auto flag = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mutex_);
    running_[app] = flag;
  }
  return std::unique_ptr<Entry>(new Entry(*this, app, flag));
}

bool BuildRegistry::cancel(const std::string& app) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(app);
  if (it == running_.end()) return false;
  *it->second = true;
  return true;
}

bool BuildRegistry::running(const std::string& app) const {
  std::lock_guard lock(mutex_);
  return running_.count(app) > 0;
}

void BuildRegistry::finish(const std::string& app, const std::shared_ptr<std::atomic<bool>>& flag) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(app);
  if (it != running_.end() && it->second == flag) running_.erase(it);  // not a later build's entry
}

}  // namespace berth::agent

#include "apps/app_key.hpp"

namespace berth::agent {

VerbRegistry::Handler buildCancelVerb(BuildRegistry& builds) {
  return [&builds](const nlohmann::json& args) {
    const auto& app = args.is_object() && args.contains("app") && args["app"].is_string() ? args["app"]
                                                                                           : nlohmann::json();
    const std::string key = app.is_string() ? app.get<std::string>() : "";
    if (auto valid = apps::validateAppKey("args.app", key); !valid)
      return VerbOutcome{false, 2, nlohmann::json::object(), valid.error().code, valid.error().message};
    return VerbOutcome{true, 0, {{"app", key}, {"cancelled", builds.cancel(key)}}, "", ""};
  };
}

}  // namespace berth::agent
