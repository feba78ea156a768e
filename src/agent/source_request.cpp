// SourceBuildRequest from the wire, its checks, the image tag, and reading the
// offered host keys back out of an error. Pure.
#include <cctype>

#include "agent/source_build_steps.hpp"
#include "apps/app_key.hpp"
#include "common/ids.hpp"

namespace berth::agent {
namespace {

constexpr std::size_t kMaxTarget = 128;
constexpr std::size_t kMaxCredential = 16 * 1024;

Result<void> readText(const nlohmann::json& object, const std::string& prefix, const char* key, std::string& out,
                      std::size_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Ok{};
  if (!it->is_string()) return invalidField(prefix + key, "must be a string");
  if (it->get<std::string>().size() > max)
    return invalidField(prefix + key, "must be at most " + std::to_string(max) + " bytes");
  out = it->get<std::string>();
  return Ok{};
}

Result<void> onlyKeys(const nlohmann::json& object, const std::string& prefix, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return invalidField(prefix.empty() ? "args" : prefix.substr(0, prefix.size() - 1), "must be an object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* k : keys) known = known || key == k;
    if (!known) return invalidField(prefix + key, "is not a known field");
  }
  return Ok{};
}

}  // namespace

Result<SourceBuildRequest> parseSourceBuildRequest(const nlohmann::json& args) {
  if (auto r = onlyKeys(args, "", {"app", "source", "commit", "credentials"}); !r) return r.error();
  SourceBuildRequest request;
  if (auto r = readText(args, "", "app", request.app, 256); !r) return r.error();
  if (request.app.empty()) return invalidField("app", "is required");
  if (!args.contains("source")) return invalidField("source", "is required");
  const auto& source = args["source"];
  if (auto r = onlyKeys(source, "source.", {"url", "ref", "dir", "dockerfile", "target", "build_args", "plan", "rebuild"});
      !r)
    return r.error();
  for (auto [key, out] : {std::pair{"url", &request.url}, std::pair{"ref", &request.ref}, std::pair{"dir", &request.dir},
                          std::pair{"dockerfile", &request.dockerfile}, std::pair{"target", &request.target}}) {
    if (auto r = readText(source, "source.", key, *out, 4096); !r) return r.error();
  }
  if (request.url.empty()) return invalidField("source.url", "is required");
  if (request.ref.empty()) request.ref = "main";
  if (source.contains("build_args") && !source["build_args"].is_null()) {
    const auto& ba = source["build_args"];
    if (!ba.is_object()) return invalidField("source.build_args", "must be an object of strings");
    for (const auto& [k, v] : ba.items()) {
      if (!v.is_string()) return invalidField("source.build_args." + k, "must be a string");
      request.build_args[k] = v.get<std::string>();
    }
  }
  if (source.contains("plan") && !source["plan"].is_null()) {
    if (!source["plan"].is_object()) return invalidField("source.plan", "must be an object or null");
    request.plan = source["plan"];
  }
  if (source.contains("rebuild")) {
    if (!source["rebuild"].is_boolean()) return invalidField("source.rebuild", "must be true or false");
    request.rebuild = source["rebuild"].get<bool>();
  }
  if (auto r = readText(args, "", "commit", request.commit, 64); !r) return r.error();
  if (args.contains("credentials") && !args["credentials"].is_null()) {
    const auto& c = args["credentials"];
    if (auto r = onlyKeys(c, "credentials.", {"username", "token", "deploy_key", "host_key"}); !r) return r.error();
    auto& out = request.credentials;
    for (auto [key, target] : {std::pair{"username", &out.username}, std::pair{"token", &out.token},
                               std::pair{"deploy_key", &out.deploy_key}, std::pair{"host_key", &out.host_key}}) {
      if (auto r = readText(c, "credentials.", key, *target, kMaxCredential); !r) return r.error();
    }
  }
  if (auto checked = source_build::checkedSource(request); !checked) return checked.error();
  return request;
}

namespace source_build {

Result<source::GitSource> checkedSource(const SourceBuildRequest& request) {
  // The key names the image and its labels.
  if (auto r = apps::validateAppKey("app", request.app); !r) return r.error();
  source::GitSource out;
  auto url = source::parseGitUrl("source.url", request.url);
  if (!url) return url.error();
  out.url = *url;
  if (auto r = source::validateGitRef("source.ref", request.ref); !r) return r.error();
  out.ref = request.ref;
  if (!request.commit.empty() && !source::isFullCommitId(request.commit))
    return invalidField("commit", "must be a full commit id (40 lower-case hex digits)");
  if (auto r = source::validateRepoPath("source.dir", request.dir); !r) return r.error();
  out.dir = request.dir;
  if (!request.dockerfile.empty()) {
    if (auto r = source::validateRepoPath("source.dockerfile", request.dockerfile); !r) return r.error();
  }
  out.dockerfile = request.dockerfile;
  if (request.target.size() > kMaxTarget || (!request.target.empty() && !std::isalnum(static_cast<unsigned char>(request.target[0]))) ||
      request.target.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    return invalidField("source.target", "must be a stage name: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128");
  out.target = request.target;
  if (auto r = source::validateBuildArgs("source.build_args", request.build_args); !r) return r.error();
  out.build_args = request.build_args;
  if (!request.plan.is_null() && !request.plan.is_object()) return invalidField("source.plan", "must be an object or null");
  if (!request.credentials.host_key.empty()) {
    if (auto r = source::validateHostKeyFingerprint("credentials.host_key", request.credentials.host_key); !r)
      return r.error();
  }
  out.host_key = request.credentials.host_key;
  const auto& user = request.credentials.username;
  if (user.find_first_of(":\r\n") != std::string::npos || user.size() > 256)
    return invalidField("credentials.username", "must have no ':' or line breaks, at most 256 bytes");
  if (request.credentials.token.find_first_of("\r\n") != std::string::npos)
    return invalidField("credentials.token", "must have no line breaks");
  if (out.url.transport == source::GitTransport::Ssh && request.credentials.deploy_key.empty())
    return invalidField("credentials.deploy_key", "is required for an ssh URL");
  return out;
}

}  // namespace source_build

std::string buildLabelValue(const std::string& app, const std::string& commit, const std::string& inputs_digest) {
  return app + "@" + commit + ":" + inputs_digest;
}

std::string buildInputsDigest(const SourceBuildRequest& request, const builder::PlanSettings& plan_settings) {
  const nlohmann::json inputs = {{"dir", request.dir},
                                 {"dockerfile", request.dockerfile},
                                 {"target", request.target},
                                 {"build_args", request.build_args},
                                 {"plan", request.plan},
                                 {"node_image", plan_settings.node_image},
                                 {"static_image", plan_settings.static_image}};
  return sha256Hex(inputs.dump()).substr(0, 16);
}

std::string sourceImageTag(const std::string& app, const std::string& commit) {
  std::string name;
  for (unsigned char c : app) {
    const char lower = static_cast<char>(std::tolower(c));
    const bool ok = std::isalnum(c) || lower == '.' || lower == '_' || lower == '-';
    name += ok && c < 0x80 ? lower : '-';
  }
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.front()))) name.erase(0, 1);
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.back()))) name.pop_back();
  if (name.empty()) name = "app";
  if (name.size() > 128) name.resize(128);
  return name + ":" + commit.substr(0, 12);
}

std::vector<std::string> offeredHostKeys(const Error& error) {
  std::vector<std::string> out;
  if (error.code != "host_key_unpinned" && error.code != "host_key_mismatch") return out;
  // The message lists them after "offers ": "SHA256:<43>" each.
  const auto offers = error.message.find("offers ");
  if (offers == std::string::npos) return out;
  for (auto at = error.message.find("SHA256:", offers); at != std::string::npos;
       at = error.message.find("SHA256:", at + 7)) {
    const std::string fp = error.message.substr(at, 7 + 43);
    if (fp.size() == 50 && source::validateHostKeyFingerprint("", fp)) out.push_back(fp);
  }
  return out;
}

nlohmann::json BuiltImage::toJson() const {
  return {{"commit", commit}, {"image", image}, {"image_id", image_id}, {"plan", plan}, {"reused", reused}};
}

}  // namespace berth::agent
