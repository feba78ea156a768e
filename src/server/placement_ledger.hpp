// What each node's placed apps claim (CPU, memory), summed per node and kept
// current as apps change, so that placing one app reads the apps that changed
// since the last placement instead of every app's deployment. AppService calls
// touch() wherever it writes an app's node, current deployment or that
// deployment's spec; a full reload every few minutes bounds any drift (a write
// rolled back after it was read, another process writing the store).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "apps/spec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "store/store.hpp"

namespace berth::server {

class PlacementLedger {
 public:
  PlacementLedger(store::Store& store, Clock clock) : store_(store), clock_(std::move(clock)) {}

  // The app's node, current deployment or that deployment's spec may have changed.
  void touch(const std::string& app);
  // Per node: the summed claims of every placed app but `except` (one Claim per node).
  Result<std::map<std::string, apps::Claim>> claimsByNode(const std::string& except);

 private:
  struct Entry {
    std::string node;
    apps::Claim claim;
  };
  static constexpr std::int64_t kReloadMs = 5 * 60'000;
  Result<void> refreshLocked();
  Result<void> reloadLocked();
  // The app's entry as the store has it now; nullopt when it runs nowhere.
  Result<std::optional<Entry>> read(const std::string& app, const std::string& node, int deployment);
  void addLocked(const std::string& app, const Entry& entry, int sign);

  store::Store& store_;
  Clock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // by app
  std::unordered_map<std::string, apps::Claim> sums_;  // by node
  std::set<std::string> dirty_;
  std::int64_t loaded_at_ = -1;  // -1: never loaded
};

}  // namespace berth::server
