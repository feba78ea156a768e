#include "agent/command_journal.hpp"

#include <cstdint>
#include <type_traits>

#include "common/json.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {

Result<CommandJournal> CommandJournal::load(const std::string& path) {
  if (!pki::fileExists(path)) return fromJson(nlohmann::json::object(), path);
  auto text = pki::readFile(path);
  if (!text) return text.error();
  auto parsed = parseJson(*text);
  if (!parsed) return makeError("state_corrupt", path + " is not valid JSON: " + parsed.error().message);
  return fromJson(*parsed, path);
}

nlohmann::json CommandJournal::toJson() const {
  nlohmann::json nonces = nlohmann::json::array();
  for (const auto& [nonce, expires] : nonces_) nonces.push_back({nonce, expires});
  nlohmann::json results = nlohmann::json::array();
  for (const auto& corr : result_order_) {
    const auto& o = results_.at(corr);
    results.push_back({{"correlation_id", corr},
                       {"ok", o.ok},
                       {"exit_code", o.exit_code},
                       {"output", o.output},
                       {"error_code", o.error_code},
                       {"error_message", o.error_message}});
  }
  return {{"nonces", nonces}, {"results", results}};
}

Result<CommandJournal> CommandJournal::fromJson(const nlohmann::json& j, std::string path) {
  CommandJournal journal;
  journal.path_ = std::move(path);
  const auto bad = makeError("state_corrupt", journal.path_ + " does not hold a command journal");
  if (!j.is_object()) return bad;
  if (auto n = j.find("nonces"); n != j.end()) {
    if (!n->is_array()) return bad;
    for (const auto& item : *n) {
      if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_number_integer()) return bad;
      journal.nonces_[item[0].get<std::string>()] = item[1].get<std::int64_t>();
    }
  }
  if (auto r = j.find("results"); r != j.end()) {
    if (!r->is_array()) return bad;
    for (const auto& item : *r) {
      if (!item.is_object() || !item.contains("correlation_id") || !item["correlation_id"].is_string()) return bad;
      VerbOutcome o;
      // Each field only from a value of its own type: get<bool>() on a string would throw.
      auto field = [&](const char* key, auto fallback) {
        using T = decltype(fallback);
        auto it = item.find(key);
        if (it == item.end()) return fallback;
        if constexpr (std::is_same_v<T, bool>) return it->is_boolean() ? it->get<bool>() : fallback;
        else if constexpr (std::is_same_v<T, std::string>) return it->is_string() ? it->get<std::string>() : fallback;
        else return it->is_number_integer() && *it >= INT32_MIN && *it <= INT32_MAX ? it->get<T>() : fallback;
      };
      o.ok = field("ok", false);
      o.exit_code = field("exit_code", 0);
      o.error_code = field("error_code", std::string());
      o.error_message = field("error_message", std::string());
      if (auto out = item.find("output"); out != item.end() && out->is_object()) o.output = *out;
      journal.finish(item["correlation_id"].get<std::string>(), o);
    }
  }
  return journal;
}

bool CommandJournal::admit(const std::string& nonce, std::int64_t expires_at_ms, std::int64_t now_ms) {
  for (auto it = nonces_.begin(); it != nonces_.end();) it = it->second <= now_ms ? nonces_.erase(it) : std::next(it);
  if (nonces_.count(nonce)) return false;
  // Full of live nonces: forget the one expiring first (lifetimes are short, so
  // this needs kMaxNonces commands within one envelope lifetime).
  if (nonces_.size() >= kMaxNonces) {
    auto soonest = nonces_.begin();
    for (auto it = nonces_.begin(); it != nonces_.end(); ++it)
      if (it->second < soonest->second) soonest = it;
    nonces_.erase(soonest);
  }
  nonces_[nonce] = expires_at_ms;
  return true;
}

void CommandJournal::finish(const std::string& correlation_id, const VerbOutcome& outcome) {
  if (!results_.count(correlation_id)) result_order_.push_back(correlation_id);
  results_[correlation_id] = outcome;
  while (result_order_.size() > kMaxResults) {
    results_.erase(result_order_.front());
    result_order_.pop_front();
  }
}

std::optional<VerbOutcome> CommandJournal::result(const std::string& correlation_id) const {
  auto it = results_.find(correlation_id);
  if (it == results_.end()) return std::nullopt;
  return it->second;
}

Result<void> CommandJournal::save() const { return pki::writePrivateFile(path_, dumpJson(toJson())); }

}  // namespace berth::agent
