#include "source/webhook.hpp"

#include <algorithm>
#include <cctype>

#include "common/ids.hpp"
#include "common/json.hpp"
#include "source/git_source.hpp"

namespace berth::source {
namespace {

// A push time past this (2^37 s: thousands of years ahead) is no time at all.
constexpr std::int64_t kLatestPushTime = std::int64_t{1} << 37;
// How far ahead of the server's clock a push time is still believed.
constexpr std::int64_t kPushTimeAheadS = 24 * 3600;

const std::string* header(const HookHeaders& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

Error badSignature() { return makeError("bad_signature", "the webhook's signature does not match the app's hook secret"); }

bool isDeliveryId(const std::string& id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

std::string stringField(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Result<HookProvider> hookProvider(const HookHeaders& headers) {
  if (header(headers, "x-hub-signature-256")) return HookProvider::GitHub;
  if (header(headers, "x-gitlab-token")) return HookProvider::GitLab;
  return makeError("unsigned", "the webhook carries neither X-Hub-Signature-256 nor X-Gitlab-Token");
}

Result<void> verifyHook(HookProvider provider, const HookHeaders& headers, const std::string& body,
                        const std::string& secret) {
  // An app without a secret cannot be signed for: the empty key must not verify an empty token.
  if (secret.empty()) return badSignature();
  if (provider == HookProvider::GitLab) {
    const auto* token = header(headers, "x-gitlab-token");
    if (!token || !constantTimeEquals(*token, secret)) return badSignature();
    return Ok{};
  }
  const auto* signature = header(headers, "x-hub-signature-256");
  if (!signature || signature->rfind("sha256=", 0) != 0) return badSignature();
  std::string given = signature->substr(7);
  std::transform(given.begin(), given.end(), given.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!constantTimeEquals(given, hmacSha256Hex(secret, body))) return badSignature();
  return Ok{};
}

Result<PushEvent> parsePushEvent(HookProvider provider, const HookHeaders& headers, const std::string& body) {
  PushEvent event;
  event.provider = provider;
  const char* id_header = provider == HookProvider::GitHub ? "x-github-delivery" : "x-gitlab-event-uuid";
  if (const auto* id = header(headers, id_header)) {
    if (!isDeliveryId(*id)) return invalidField(id_header, "must be 1-128 of [A-Za-z0-9._-]");
    event.delivery_id = *id;
  } else {
    event.delivery_id = "body:" + sha256Hex(body);  // a redelivery carries the same body
  }
  auto json = parseJson(body);
  if (!json) return invalidField("body", "must be JSON: " + json.error().message);
  if (!json->is_object()) return invalidField("body", "must be a JSON object");

  const auto* kind = header(headers, provider == HookProvider::GitHub ? "x-github-event" : "x-gitlab-event");
  event.is_push = provider == HookProvider::GitHub ? kind && *kind == "push"
                                                   : (kind && *kind == "Push Hook") || stringField(*json, "object_kind") == "push";
  if (!event.is_push) return event;

  event.ref = stringField(*json, "ref");
  if (event.ref.rfind("refs/", 0) != 0) return invalidField("ref", "a push event must name the ref it moved (refs/...)");
  if (auto r = validateGitRef("ref", event.ref); !r) return r.error();
  if (event.ref.rfind("refs/heads/", 0) == 0) event.branch = event.ref.substr(11);
  event.commit = stringField(*json, "after");
  if (!isFullCommitId(event.commit)) return invalidField("after", "must be the 40-hex commit the ref now points at");
  event.deleted = event.commit == std::string(40, '0');
  // GitHub's push events carry the push time as Unix seconds; anything else is no push time.
  if (auto repo = json->find("repository"); repo != json->end() && repo->is_object()) {
    if (auto at = repo->find("pushed_at"); at != repo->end() && at->is_number_integer()) {
      const auto seconds = at->get<std::int64_t>();
      if (seconds > 0 && seconds < kLatestPushTime) event.pushed_at = seconds;
    }
  }
  return event;
}

HookDecision decideOnPush(const PushEvent& event, const std::string& tracked_branch) {
  if (!event.is_push) return {false, "", "not a push event: acknowledged, nothing deployed"};
  if (event.branch.empty()) return {false, "", event.ref + " is not a branch: nothing deployed"};
  if (event.branch != tracked_branch)
    return {false, "", "a push to " + event.branch + ", not the tracked branch " + tracked_branch + ": nothing deployed"};
  if (event.deleted) return {false, "", "the tracked branch " + tracked_branch + " was deleted: nothing deployed"};
  return {true, event.commit, ""};
}

std::int64_t trustedPushTime(const PushEvent& event, std::int64_t now_s) {
  return event.pushed_at > 0 && event.pushed_at <= now_s + kPushTimeAheadS ? event.pushed_at : 0;
}

HookDecision decideOnHistory(const PushEvent& event, const PushHistory& history, std::int64_t now_s) {
  const std::string short_commit = event.commit.substr(0, 12);
  if (!history.running_commit.empty() && event.commit == history.running_commit)
    return {false, "", "commit " + short_commit + " already runs: nothing deployed"};
  const std::int64_t pushed_at = trustedPushTime(event, now_s);
  if (pushed_at > 0 && pushed_at < history.newest_pushed_at)
    return {false, "",
            "a push older than the last one deployed for " + event.branch + " (an old delivery?): nothing deployed"};
  if (history.commit_deployed_by_push && !(pushed_at > history.newest_pushed_at))
    return {false, "",
            "commit " + short_commit + " was deployed by an earlier push to " + event.branch +
                " (an old delivery?): nothing deployed; roll back to run it again"};
  return {true, event.commit, ""};
}

}  // namespace berth::source
