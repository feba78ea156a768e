// Apps built from git, the control plane's side (docs/builds.md): each app's
// source credentials and hook secret (sealed with the secrets key, never
// answered), the host keys a fetch was offered and the one pinned, the build
// an agent reports, and push webhooks that deploy a commit.
#include <algorithm>

#include "apps/app_key.hpp"
#include "apps/source_spec.hpp"
#include "common/ids.hpp"
#include "common/json.hpp"
#include "common/logging.hpp"
#include "pki/sealed_file.hpp"
#include "server/app_service.hpp"
#include "source/git_source.hpp"
#include "source/ssh_keys.hpp"
#include "source/webhook.hpp"

namespace berth::server {
namespace {

constexpr const char* kDefaultGitUser = "x-access-token";
constexpr std::size_t kMaxTokenBytes = 4096;
constexpr std::size_t kMaxOfferedKeys = 16;
constexpr std::size_t kMaxPlanBytes = 64 * 1024;
constexpr std::int64_t kDeliveryMemoryMs = 24 * kHourMs;
// The pushes remembered per branch of an app, to tell an old delivery replayed later from a new push.
constexpr int kPushesKept = 1000;

Result<void> onlyFields(const nlohmann::json& body, std::initializer_list<const char*> known) {
  if (!body.is_object()) return invalidField("body", "must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
      return invalidField(key, "is not a known field");
  }
  return Ok{};
}

Result<std::string> printable(const nlohmann::json& body, const char* field, std::size_t max, bool allow_colon) {
  if (!body[field].is_string()) return invalidField(field, "must be a string");
  const auto text = body[field].get<std::string>();
  if (text.empty() || text.size() > max)
    return invalidField(field, "must be 1 to " + std::to_string(max) + " bytes");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return invalidField(field, "must not contain control characters");
    if (!allow_colon && c == ':') return invalidField(field, "must not contain ':'");
  }
  return text;
}

// The answer to every webhook that cannot be verified: an unknown app reads as a bad signature.
Error hookRefused() { return makeError("unauthorized", "the webhook is not signed with this app's hook secret"); }

}  // namespace

Result<store::AppSource> AppService::appSource(const std::string& app) {
  auto found = store_.sources().getAppSource(app);
  if (!found) return found.error();
  if (*found) return **found;
  store::AppSource fresh;
  fresh.app = app;
  return fresh;
}

Result<std::int64_t> AppService::runningBuilds(const std::string& org) {
  auto all = store_.listOrgApps(org);
  if (!all) return all.error();
  std::int64_t running = 0;
  for (const auto& app : *all) {
    auto deployments = store_.listDeployments(app.name);
    if (!deployments) return deployments.error();
    for (const auto& d : *deployments) {
      if (!d.source_ref.empty() && d.built_image.empty() && !isSettled(d.state)) ++running;
    }
  }
  return running;
}

Result<nlohmann::json> AppService::source(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto s = appSource(app->name);
  if (!s) return s.error();
  nlohmann::json out = {{"app", apps::splitAppKey(app->name).name},
                        {"kind", s->kind.empty() ? "none" : s->kind},
                        {"username", s->kind == "https" ? s->username : ""},
                        {"public_key", s->public_key},
                        {"host_key", s->host_key},
                        {"offered_host_keys", s->offered_host_keys},
                        {"offered_at", s->offered_at},
                        {"hook_secret_set", !s->sealed_hook_secret.empty()},
                        {"hook_url", "/api/v1/hooks/git/" + app->name},
                        {"plan", s->plan_override},
                        {"updated_at", s->updated_at}};
  if (!s->public_key.empty()) {
    if (auto fp = source::publicKeyFingerprint(s->public_key)) out["public_key_fingerprint"] = *fp;
  }
  return out;
}

Result<nlohmann::json> AppService::putSource(const std::string& name, const nlohmann::json& b) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (auto r = onlyFields(b, {"token", "username", "host_key", "plan", "clear"}); !r) return r.error();
  auto s = appSource(app->name);
  if (!s) return s.error();
  if (b.contains("clear")) {
    if (!b["clear"].is_boolean()) return invalidField("clear", "must be true or false");
    if (b["clear"].get<bool>()) {
      if (b.contains("token")) return invalidField("clear", "cannot be combined with token");
      s->kind.clear();
      s->username.clear();
      s->sealed_credentials.clear();
      s->public_key.clear();
    }
  }
  if (b.contains("token")) {
    auto token = printable(b, "token", kMaxTokenBytes, true);
    if (!token) return token.error();
    s->kind = "https";
    s->public_key.clear();
    s->sealed_credentials = pki::seal(nlohmann::json{{"token", *token}}.dump(), secrets_key_);
    s->username = kDefaultGitUser;
  }
  if (b.contains("username")) {
    auto user = printable(b, "username", 256, false);
    if (!user) return user.error();
    if (s->kind != "https") return invalidField("username", "goes with a token (an https source)");
    s->username = *user;
  }
  if (b.contains("host_key")) {
    if (!b["host_key"].is_string()) return invalidField("host_key", "must be a fingerprint SHA256:... or \"\"");
    const auto key = b["host_key"].get<std::string>();
    if (!key.empty()) {
      if (auto r = source::validateHostKeyFingerprint("host_key", key); !r) return r.error();
      // Given up front: only while none is pinned. A pinned key changes through trust.
      if (!s->host_key.empty() && s->host_key != key)
        return makeError("conflict", "field 'host_key': " + s->host_key +
                                         " is pinned; `berth app source trust` changes it (a key the server offered, "
                                         "or --force as an admin)");
    }
    s->host_key = key;
  }
  if (b.contains("plan")) {
    if (auto r = apps::validatePlanOverride("plan", b["plan"]); !r) return r.error();
    if (b["plan"].dump().size() > kMaxPlanBytes) return invalidField("plan", "must be at most 64 KiB");
    s->plan_override = b["plan"];
  }
  s->updated_at = clock_();
  if (auto r = store_.sources().putAppSource(*s); !r) return r.error();
  return source(name);
}

Result<nlohmann::json> AppService::setDeployKey(const std::string& name, const nlohmann::json& b) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (auto r = onlyFields(b, {"generate", "private_key"}); !r) return r.error();
  const bool generate = b.contains("generate") && b["generate"] == true;
  if (generate == b.contains("private_key"))
    return invalidField("body", "give either {\"generate\": true} or {\"private_key\": \"...\"}");
  Result<source::DeployKey> key = generate ? source::newDeployKey(app->name) : Result<source::DeployKey>(
      invalidField("private_key", "must be an unencrypted OpenSSH Ed25519 private key"));
  if (!generate) {
    if (!b["private_key"].is_string() || b["private_key"].get<std::string>().size() > 16 * 1024)
      return invalidField("private_key", "must be an OpenSSH private key (text, at most 16 KiB)");
    key = source::readDeployKey(b["private_key"].get<std::string>(), app->name);
    if (!key) return invalidField("private_key", key.error().message);
  }
  if (!key) return key.error();
  auto s = appSource(app->name);
  if (!s) return s.error();
  s->kind = "ssh";
  s->username.clear();
  s->public_key = key->public_line;
  s->sealed_credentials = pki::seal(nlohmann::json{{"deploy_key", key->private_openssh}}.dump(), secrets_key_);
  s->updated_at = clock_();
  if (auto r = store_.sources().putAppSource(*s); !r) return r.error();
  return nlohmann::json{{"app", apps::splitAppKey(app->name).name},
                        {"kind", "ssh"},
                        {"public_key", key->public_line},
                        {"public_key_fingerprint", key->fingerprint},
                        {"generated", generate}};
}

Result<nlohmann::json> AppService::trustHostKey(const std::string& name, const nlohmann::json& b, bool admin) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (auto r = onlyFields(b, {"fingerprint", "force"}); !r) return r.error();
  if (!b.contains("fingerprint") || !b["fingerprint"].is_string())
    return invalidField("fingerprint", "is required (SHA256:..., as the failed deploy named it)");
  const auto fingerprint = b["fingerprint"].get<std::string>();
  if (auto r = source::validateHostKeyFingerprint("fingerprint", fingerprint); !r) return r.error();
  bool force = false;
  if (b.contains("force")) {
    if (!b["force"].is_boolean()) return invalidField("force", "must be true or false");
    force = b["force"].get<bool>();
  }
  auto s = appSource(app->name);
  if (!s) return s.error();
  const auto& offered = s->offered_host_keys;
  const bool wasOffered = std::find(offered.begin(), offered.end(), nlohmann::json(fingerprint)) != offered.end();
  if (!wasOffered) {
    if (!force)
      return invalidField("fingerprint", "was not offered by the git server at the last fetch (offered: " +
                                             offered.dump() + "); an admin may pin it with force");
    if (!admin) return makeError("forbidden", "pinning a host key the server did not offer (force) needs scope admin");
  }
  s->host_key = fingerprint;
  s->updated_at = clock_();
  if (auto r = store_.sources().putAppSource(*s); !r) return r.error();
  log::info("git host key pinned", {{"app", app->name}, {"fingerprint", fingerprint}, {"forced", !wasOffered}});
  return source(name);
}

Result<nlohmann::json> AppService::rotateHookSecret(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto s = appSource(app->name);
  if (!s) return s.error();
  const std::string secret = randomHex(32);
  s->sealed_hook_secret = pki::seal(secret, secrets_key_);
  s->updated_at = clock_();
  if (auto r = store_.sources().putAppSource(*s); !r) return r.error();
  return nlohmann::json{{"app", apps::splitAppKey(app->name).name},
                        {"secret", secret},
                        {"url", "/api/v1/hooks/git/" + app->name},
                        {"note", "shown once; GitHub: X-Hub-Signature-256 (content type application/json), "
                                 "GitLab: X-Gitlab-Token"}};
}

Result<nlohmann::json> AppService::plan(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  auto s = appSource(app->name);
  if (!s) return s.error();
  auto all = store_.listDeployments(app->name);
  if (!all) return all.error();
  nlohmann::json out = {{"app", apps::splitAppKey(app->name).name}, {"override", s->plan_override},
                        {"plan", nullptr}, {"deployment", 0}, {"commit", ""}};
  for (const auto& d : *all) {  // newest first
    if (d.built_image.empty()) continue;
    out["plan"] = d.build_plan;
    out["deployment"] = d.number;
    out["commit"] = d.source_commit;
    break;
  }
  return out;
}

Result<AppCall> AppService::cancelBuild(const std::string& name) {
  auto app = findApp(name);
  if (!app) return app.error();
  if (app->node_id.empty()) return makeError("conflict", "app " + apps::splitAppKey(name).name + " runs on no node yet");
  auto id = submit(*app, "app.build.cancel", {{"app", app->name}});
  if (!id) return id.error();
  return AppCall{"app.build.cancel", *app, app->current_deployment, *id};
}

Result<void> AppService::fillSourceDefaults(const std::string& app, nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("source") || !spec["source"].is_object()) return Ok{};
  auto& source = spec["source"];
  if (source.contains("plan") && !source["plan"].is_null()) return Ok{};
  auto stored = store_.sources().getAppSource(app);
  if (!stored) return stored.error();
  if (*stored && !(*stored)->plan_override.is_null()) source["plan"] = (*stored)->plan_override;
  return Ok{};
}

Result<std::string> AppService::sealedSourceCredentials(const std::string& app) {
  auto stored = store_.sources().getAppSource(app);
  if (!stored) return stored.error();
  if (!*stored) return std::string();
  const auto& s = **stored;
  nlohmann::json credentials = nlohmann::json::object();
  if (!s.sealed_credentials.empty()) {
    auto plain = pki::unseal(s.sealed_credentials, secrets_key_);
    if (!plain)
      return makeError("secrets_unavailable",
                       "the app's source credentials cannot be opened with this server's key (" + plain.error().message + ")");
    auto opened = parseJsonOrDiscarded(*plain);
    if (s.kind == "https" && opened.contains("token")) {
      credentials["username"] = s.username.empty() ? kDefaultGitUser : s.username;
      credentials["token"] = opened["token"];
    }
    if (s.kind == "ssh" && opened.contains("deploy_key")) credentials["deploy_key"] = opened["deploy_key"];
  }
  if (!s.host_key.empty()) credentials["host_key"] = s.host_key;
  if (credentials.empty()) return std::string();
  return pki::seal(credentials.dump(), secrets_key_);
}

Result<void> AppService::recordBuildResult(const store::App& app, int number, const nlohmann::json& result) {
  if (!result.is_object()) return Ok{};
  // A failed fetch that met an unpinned host key: what the server offered, for `trust`.
  if (auto offered = result.find("offered_host_keys"); offered != result.end() && offered->is_array()) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& k : *offered) {
      if (keys.size() >= kMaxOfferedKeys) break;
      if (!k.is_string() || !source::validateHostKeyFingerprint("offered_host_keys", k.get<std::string>())) continue;
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    auto s = appSource(app.name);
    if (!s) return s.error();
    s->offered_host_keys = keys;
    s->offered_at = clock_();
    if (auto r = store_.sources().putAppSource(*s); !r) return r;
  }
  auto build = result.find("build");
  if (build == result.end() || !build->is_object()) return Ok{};
  auto d = store_.getDeployment(app.name, number);
  if (!d) return d.error();
  if (!*d) return Ok{};
  auto updated = **d;
  // Each value is the agent's word: taken only in the shape it must have (a value of another
  // type is not taken either: json::value() would throw it at the agent session).
  auto text = [&](const char* key) {
    auto it = build->find(key);
    return it != build->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto commit = text("commit");
  if (source::isFullCommitId(commit)) updated.source_commit = commit;
  const auto image = text("image");
  if (!image.empty() && image.size() <= 256 && apps::parseImageReference("build.image", image)) {
    updated.built_image = image;
    if (updated.image.empty()) updated.image = image;
  }
  if (auto plan = build->find("plan"); plan != build->end() && (plan->is_object() || plan->is_null()) &&
                                       plan->dump().size() <= kMaxPlanBytes)
    updated.build_plan = *plan;
  const auto reused = build->find("reused");
  if (updated.build_plan.is_null() && reused != build->end() && reused->is_boolean() && reused->get<bool>() &&
      !updated.built_image.empty()) {
    // A reused image was not planned again (nothing was fetched): its plan is the build's that made
    // it, the newest earlier deployment with that tag (one app's builds run one at a time). Null
    // there stays null: the same commit built with a Dockerfile after a plan moved the tag. A
    // rollback reuses the image by the id its deployment ran (`image`): that deployment's plan.
    auto all = store_.listDeployments(app.name);
    if (!all) return all.error();
    for (const auto& earlier : *all) {  // newest first
      const bool same = earlier.built_image == updated.built_image ||
                        (!earlier.built_image.empty() && earlier.image == updated.built_image);
      if (earlier.number >= number || !same) continue;
      updated.build_plan = earlier.build_plan;
      break;
    }
  }
  updated.updated_at = clock_();
  ledger_.touch(updated.app);
  return store_.upsertDeployment(updated);
}

Result<AppService::HookOutcome> AppService::pushHook(const std::string& key,
                                                     const std::map<std::string, std::string>& headers,
                                                     const std::string& body, std::string& org) {
  HookOutcome outcome;
  if (!apps::validateAppKey("app", key)) return hookRefused();
  auto found = store_.getApp(key);
  if (!found) return found.error();
  if (!*found || (*found)->org != apps::splitAppKey(key).org) return hookRefused();
  auto app = **found;
  org = app.org;
  auto stored = store_.sources().getAppSource(app.name);
  if (!stored) return stored.error();
  std::string secret;
  if (*stored && !(*stored)->sealed_hook_secret.empty()) {
    auto plain = pki::unseal((*stored)->sealed_hook_secret, secrets_key_);
    if (plain) secret = *plain;
  }
  auto provider = source::hookProvider(headers);
  if (!provider) return hookRefused();
  if (!source::verifyHook(*provider, headers, body, secret)) return hookRefused();
  auto event = source::parsePushEvent(*provider, headers, body);
  if (!event) return event.error();
  if (app.desired == AppDesired::Deleting) return makeError("conflict", "the app is being deleted");
  const auto now = clock_();
  auto fresh = store_.sources().recordHookDelivery(app.name, event->delivery_id, now, now - kDeliveryMemoryMs);
  if (!fresh) return fresh.error();
  if (!*fresh) {
    outcome.outcome = "duplicate";
    outcome.reason = "delivery " + event->delivery_id + " was handled already";
    return outcome;
  }
  // The deployment a push follows: the running one when it is from git, else the newest that is.
  auto all = store_.listDeployments(app.name);
  if (!all) return all.error();
  const store::Deployment* base = nullptr;
  for (const auto& d : *all) {
    if (!d.spec.contains("source")) continue;
    if (d.number == app.current_deployment) {
      base = &d;
      break;
    }
    if (!base) base = &d;
  }
  if (!base) {
    outcome.outcome = "ignored";
    outcome.reason = "the app has no deployment from git to follow";
    return outcome;
  }
  const auto tracked = base->spec["source"].value("ref", std::string("main"));
  auto decision = source::decideOnPush(*event, tracked);
  if (decision.deploy) {
    // Not newer than what the app has (an old delivery replayed once its id is forgotten): ignored.
    source::PushHistory history;
    for (const auto& d : *all)
      if (d.number == app.current_deployment) history.running_commit = d.source_commit;
    auto pushes = store_.sources().hookPushes(app.name, event->branch, event->commit);
    if (!pushes) return pushes.error();
    history.commit_deployed_by_push = pushes->commit_seen;
    history.newest_pushed_at = pushes->newest_pushed_at;
    decision = source::decideOnHistory(*event, history, now / 1000);
  }
  if (!decision.deploy) {
    outcome.outcome = "ignored";
    outcome.reason = decision.reason;
    return outcome;
  }
  auto call = startDeployment(app, base->spec, base->sealed_secrets, "",
                              "push " + apps::shortCommit(decision.commit), decision.commit);
  if (!call) return call.error();
  if (auto noted = store_.sources().recordHookPush(app.name, event->branch, decision.commit,
                                                   source::trustedPushTime(*event, now / 1000), now, kPushesKept);
      !noted)
    return noted.error();
  outcome.outcome = "deployed";
  outcome.reason = "commit " + decision.commit;
  outcome.call = *call;
  return outcome;
}

}  // namespace berth::server
