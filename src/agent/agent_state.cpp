#include "agent/agent_state.hpp"
#include "common/json.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {

Result<void> saveAgentState(const std::string& state_dir, const AgentState& s) {
  if (auto r = pki::ensurePrivateDirectory(state_dir); !r) return r.error();
  auto key = pki::loadSealingKey(state_dir + "/seal.key");
  if (!key) return key.error();
  nlohmann::json j = {{"node_id", s.node_id},
                      {"server_url", s.server_url},
                      {"ca", s.ca_pem},
                      {"certificate", s.cert_pem},
                      {"sealed_key", pki::seal(s.key_pem, *key)},
                      {"signing_public_key", base64Encode(s.signing_public_key)},
                      {"cert_not_after", s.cert_not_after}};
  return pki::writePrivateFile(state_dir + "/agent.json", j.dump(2));
}

Result<std::optional<AgentState>> loadAgentState(const std::string& state_dir) {
  const std::string path = state_dir + "/agent.json";
  if (!pki::fileExists(path)) return std::optional<AgentState>();
  auto text = pki::readFile(path);
  if (!text) return text.error();
  auto j = parseJsonOrDiscarded(*text);
  if (j.is_discarded() || !j.is_object()) return makeError("state_corrupt", path + " is not valid JSON");
  auto key = pki::loadSealingKey(state_dir + "/seal.key");
  if (!key) return key.error();
  try {
    AgentState s;
    s.node_id = j.at("node_id");
    s.server_url = j.at("server_url");
    s.ca_pem = j.at("ca");
    s.cert_pem = j.at("certificate");
    s.cert_not_after = j.at("cert_not_after");
    auto signing = base64Decode(j.at("signing_public_key").get<std::string>());
    if (!signing) return makeError("state_corrupt", path + ": signing_public_key is not base64");
    s.signing_public_key = *signing;
    auto privateKey = pki::unseal(j.at("sealed_key"), *key);
    if (!privateKey) return privateKey.error();
    s.key_pem = *privateKey;
    return std::optional<AgentState>(std::move(s));
  } catch (const nlohmann::json::exception& e) {
    return makeError("state_corrupt", path + ": " + e.what());
  }
}

}  // namespace berth::agent
