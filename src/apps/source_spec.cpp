#include "apps/source_spec.hpp"

#include <set>

#include "apps/validation.hpp"
#include "builder/build_plan.hpp"

namespace berth::apps {
namespace {

// applyOverride names its fields "plan.x"; renamed to "<field>.x".
Error renamed(Error error, const std::string& field) {
  const std::string from = "field 'plan";
  if (auto at = error.message.find(from); at != std::string::npos) error.message.replace(at + 7, 4, field);
  return error;
}

// The plan an override is checked against: every field the override may touch is set, so any
// refusal is the override's own.
builder::BuildPlan neutralPlan() {
  builder::BuildPlan plan;
  plan.stack = "node";
  plan.base_image = "node:20-bookworm-slim";
  plan.start = {"npm", "start"};
  plan.port = 3000;
  return plan;
}

Result<std::string> sourceText(const nlohmann::json& body, const char* key, std::size_t max) {
  const std::string field = std::string("source.") + key;
  if (!body[key].is_string()) return invalidField(field, "must be a string");
  auto text = body[key].get<std::string>();
  if (text.size() > max) return invalidField(field, "must be at most " + std::to_string(max) + " bytes");
  return text;
}

}  // namespace

Result<void> validatePlanOverride(const std::string& field, const nlohmann::json& plan) {
  if (plan.is_null()) return Ok{};
  if (!plan.is_object()) return invalidField(field, "must be an object (a build-plan override) or null");
  if (auto r = builder::applyOverride(neutralPlan(), plan); !r) return renamed(r.error(), field);
  return Ok{};
}

std::string shortCommit(const std::string& commit) { return commit.substr(0, 12); }

Result<SourceSpec> parseSourceSpec(const nlohmann::json& b) {
  if (!b.is_object()) return invalidField("source", "must be an object with at least \"git\" (the repository URL)");
  static const std::set<std::string> kKnown = {"git", "ref", "dir", "dockerfile", "target", "build_args", "plan", "rebuild"};
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!kKnown.count(it.key())) return invalidField("source." + it.key(), "is not a known field");
  }
  SourceSpec out;
  if (!b.contains("git") || !b["git"].is_string()) return invalidField("source.git", "is required (an https or ssh URL)");
  out.git = b["git"].get<std::string>();
  auto url = source::parseGitUrl("source.git", out.git);
  if (!url) return url.error();
  out.url = *url;
  if (b.contains("ref")) {
    auto ref = sourceText(b, "ref", 255);
    if (!ref) return ref.error();
    out.ref = *ref;
  }
  if (auto r = source::validateGitRef("source.ref", out.ref); !r) return r.error();
  for (auto [key, target] : {std::pair{"dir", &out.dir}, std::pair{"dockerfile", &out.dockerfile}}) {
    if (!b.contains(key)) continue;
    auto text = sourceText(b, key, 1024);
    if (!text) return text.error();
    if (auto r = source::validateRepoPath(std::string("source.") + key, *text); !r) return r.error();
    *target = *text;
  }
  if (b.contains("target")) {
    auto text = sourceText(b, "target", 128);
    if (!text) return text.error();
    // A stage name as Docker takes it: a letter, then letters, digits, '-', '_' and '.'.
    for (std::size_t i = 0; i < text->size(); ++i) {
      const unsigned char c = (*text)[i];
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!letter && (i == 0 || !((c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')))
        return invalidField("source.target", "must be a stage name: a letter, then letters, digits, '-', '_', '.'");
    }
    out.target = *text;
  }
  if (b.contains("build_args")) {
    const auto& args = b["build_args"];
    if (!args.is_object()) return invalidField("source.build_args", "must be an object of strings");
    for (const auto& [name, value] : args.items()) {
      if (!value.is_string()) return invalidField("source.build_args." + name, "must be a string");
      out.build_args[name] = value.get<std::string>();
    }
    if (auto r = source::validateBuildArgs("source.build_args", out.build_args); !r) return r.error();
  }
  if (b.contains("plan") && !b["plan"].is_null()) {
    if (auto r = validatePlanOverride("source.plan", b["plan"]); !r) return r.error();
    out.plan = b["plan"];
  }
  if (b.contains("rebuild")) {
    if (!b["rebuild"].is_boolean()) return invalidField("source.rebuild", "must be true or false");
    out.rebuild = b["rebuild"].get<bool>();
  }
  return out;
}

nlohmann::json toJson(const SourceSpec& s) {
  return {{"git", s.git},       {"ref", s.ref},   {"dir", s.dir},         {"dockerfile", s.dockerfile},
          {"target", s.target}, {"build_args", s.build_args}, {"plan", s.plan}, {"rebuild", s.rebuild}};
}

}  // namespace berth::apps
