// The source builds running on this agent, by app key, so that the verb
// app.build.cancel {"app": KEY} reaches the build of that app from another
// thread (the build itself runs on the app's worker). Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace berth::agent {

class BuildRegistry {
 public:
  // One running build; unregisters on destruction. cancel() is what build() watches.
  class Entry {
   public:
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    const std::atomic<bool>& cancel() const { return *flag_; }

   private:
    friend class BuildRegistry;
    Entry(BuildRegistry& registry, std::string app, std::shared_ptr<std::atomic<bool>> flag)
        : registry_(registry), app_(std::move(app)), flag_(std::move(flag)) {}
    BuildRegistry& registry_;
    std::string app_;
    std::shared_ptr<std::atomic<bool>> flag_;  // shared with the registry's map while registered
  };

  // Registers a build of `app`. A second build of the same app replaces the
  // first in the map (the per-app worker runs them one after the other).
  std::unique_ptr<Entry> start(const std::string& app);
  // Sets the cancel flag of `app`'s running build; false when none runs.
  bool cancel(const std::string& app);
  bool running(const std::string& app) const;

 private:
  void finish(const std::string& app, const std::shared_ptr<std::atomic<bool>>& flag);
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> running_;
};

}  // namespace berth::agent

#include "agent/verbs.hpp"

namespace berth::agent {
// app.build.cancel {"app": KEY}: cancels that app's running source build (the
// build then fails "cancelled"). {"cancelled": false} when none runs.
VerbRegistry::Handler buildCancelVerb(BuildRegistry& builds);
}  // namespace berth::agent
