#include "agent/image_access.hpp"

#include <nlohmann/json.hpp>

#include "agent/source_builder.hpp"
#include "apps/app_key.hpp"
#include "apps/validation.hpp"
#include "common/json.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {

ImageAccess::ImageAccess(std::string path) : path_(std::move(path)) {}

Result<void> ImageAccess::load() {
  if (path_.empty() || !pki::fileExists(path_)) return Ok{};
  auto text = pki::readFile(path_);
  if (!text) return text.error();
  const auto damaged = [&](const std::string& why) {
    return makeError("bad_state", path_ + " " + why + "; remove it only after removing the images it lists");
  };
  const auto j = parseJsonOrDiscarded(*text);
  if (!j.is_object() || !j.contains("images") || !j["images"].is_object())
    return damaged("is not a JSON object with an \"images\" object");
  std::map<std::string, std::set<std::string>> loaded;
  for (const auto& [image, orgs] : j["images"].items()) {
    if (!orgs.is_array()) return damaged("lists the orgs of " + image + " as something other than an array");
    for (const auto& org : orgs) {
      if (!org.is_string()) return damaged("names an org of " + image + " as something other than a string");
      loaded[image].insert(org.get<std::string>());
    }
  }
  std::set<std::pair<std::string, std::string>> pulling;
  for (const auto& pull : j.value("pulling", nlohmann::json::array())) {
    if (!pull.is_object() || !pull.value("reference", nlohmann::json()).is_string() ||
        !pull.value("org", nlohmann::json()).is_string())
      return damaged("names a pull under way without a reference and an org");
    pulling.emplace(pull["reference"].get<std::string>(), pull["org"].get<std::string>());
  }
  std::lock_guard lock(mutex_);
  orgs_by_image_ = std::move(loaded);
  pulling_ = std::move(pulling);
  return Ok{};
}

Result<void> ImageAccess::beginPull(const std::string& reference, const std::string& org) {
  std::lock_guard lock(mutex_);
  if (!pulling_.emplace(reference, org).second) return Ok{};
  return saveLocked();
}

Result<void> ImageAccess::endPull(const std::string& reference, const std::string& org) {
  std::lock_guard lock(mutex_);
  if (pulling_.erase({reference, org}) == 0) return Ok{};
  return saveLocked();
}

std::vector<std::pair<std::string, std::string>> ImageAccess::pullsUnderWay() const {
  std::lock_guard lock(mutex_);
  return {pulling_.begin(), pulling_.end()};
}

bool ImageAccess::kept() const { return !path_.empty() && pki::fileExists(path_); }

Result<void> ImageAccess::keep() {
  std::lock_guard lock(mutex_);
  return saveLocked();
}

bool ImageAccess::allows(const std::string& image_id, const std::string& org) const {
  std::lock_guard lock(mutex_);
  const auto it = orgs_by_image_.find(image_id);
  return it == orgs_by_image_.end() || it->second.count(org) > 0;
}

Result<void> ImageAccess::recordPull(const std::string& image_id, const std::string& org, bool with_credentials,
                                     bool brought_new_bytes) {
  std::lock_guard lock(mutex_);
  auto it = orgs_by_image_.find(image_id);
  if (it == orgs_by_image_.end()) {
    // Bytes already here unrestricted came some other way (anonymous pull, operator): they stay open.
    if (!with_credentials || !brought_new_bytes) return Ok{};
    orgs_by_image_[image_id] = {org};
  } else if (!it->second.insert(org).second) {
    return Ok{};
  }
  return saveLocked();
}

Result<void> ImageAccess::saveLocked() const {
  if (path_.empty()) return Ok{};
  nlohmann::json images = nlohmann::json::object();
  for (const auto& [image, orgs] : orgs_by_image_) images[image] = orgs;
  nlohmann::json pulling = nlohmann::json::array();
  for (const auto& [reference, org] : pulling_) pulling.push_back({{"reference", reference}, {"org", org}});
  return pki::writePrivateFile(path_, nlohmann::json{{"images", images}, {"pulling", pulling}}.dump());
}

Result<bool> holdsImagesBarredFrom(runtime::ContainerRuntime& runtime, const ImageAccess& access,
                                   const std::string& org) {
  auto images = runtime.listImages({});
  if (!images) return images.error();
  for (const auto& image : *images) {
    if (!access.allows(image.id, org)) return true;
    const auto builtFor = sourceBuildOf(image.labels);
    if (builtFor && apps::splitAppKey(*builtFor).org != org) return true;
  }
  return false;
}

Result<void> checkBuildBases(runtime::ContainerRuntime& runtime, ImageAccess& access, const std::string& app,
                             const std::vector<std::string>& images) {
  const std::string org = apps::splitAppKey(app).org;
  for (const auto& image : images) {
    // Only a reference goes into the Engine API's paths: "../containers/json" from a Dockerfile
    // must not reach another endpoint. Docker refuses such a FROM too.
    if (auto valid = apps::parseImageReference("FROM", image); !valid)
      return makeError("build_refused", "FROM " + image + ": " + valid.error().message);
    auto present = runtime.inspectImage(image);
    if (!present) return present.error();
    if (!*present) continue;
    if (const auto builtFor = sourceBuildOf((*present)->labels); builtFor && *builtFor != app)
      return makeError("build_refused", "FROM " + image + ": another app's build on this node (name a registry image)");
    if (access.allows((*present)->id, org)) continue;
    if (auto open = runtime.checkRegistryAccess(image, std::nullopt); !open)
      return makeError("build_refused", "FROM " + image +
                                            ": the copy on this node came with another org's registry credentials, "
                                            "and the registry does not serve it without them (" +
                                            open.error().message + ")");
    if (auto r = access.recordPull((*present)->id, org, false, false); !r) return r.error();
  }
  return Ok{};
}

}  // namespace berth::agent
