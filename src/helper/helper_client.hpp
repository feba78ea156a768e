// The agent's side of `berth helper`: HostActions as signed requests on the
// helper's unix socket (one connection per request). Thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.hpp"
#include "helper/host_actions.hpp"

namespace berth::helper {

class HelperClient final : public HostActions {
 public:
  // Reads the key (64 hex characters) from `key_file`: "bad_key" when it cannot.
  static Result<std::shared_ptr<HelperClient>> open(std::string socket, const std::string& key_file,
                                                    Clock clock = systemNowMs);
  // One request; the command's output, or the helper's error ("helper_unavailable"
  // when it cannot be reached or does not answer within `timeout_ms`).
  Result<std::string> call(const std::string& verb, const nlohmann::json& args, int timeout_ms = 90'000);

  Result<void> shapeTraffic(int pid, std::int64_t in_bps, std::int64_t out_bps) override;
  Result<void> nginx(NginxSignal signal, const std::string& config) override;
  Result<void> caddyStart(const std::string& config, const std::string& pidfile, const std::string& log) override;
  Result<void> writeFile(const std::string& path, const std::string& content) override;

 private:
  HelperClient(std::string socket, std::string key, Clock clock)
      : socket_(std::move(socket)), key_(std::move(key)), clock_(std::move(clock)) {}
  std::string socket_, key_;
  Clock clock_;
};

}  // namespace berth::helper
