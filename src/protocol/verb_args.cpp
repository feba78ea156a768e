#include "protocol/verb_args.hpp"

namespace berth::protocol {
namespace {

bool hasType(const nlohmann::json& value, ArgType type) {
  switch (type) {
    case ArgType::String:
      return value.is_string();
    case ArgType::Integer:
      return value.is_number_integer();
    case ArgType::Boolean:
      return value.is_boolean();
    case ArgType::Object:
      return value.is_object();
    case ArgType::StringList:
      if (!value.is_array()) return false;
      for (const auto& item : value)
        if (!item.is_string()) return false;
      return true;
  }
  return false;
}

const char* typeName(ArgType type) {
  switch (type) {
    case ArgType::String:
      return "a string";
    case ArgType::Integer:
      return "an integer";
    case ArgType::Boolean:
      return "true or false";
    case ArgType::Object:
      return "an object";
    case ArgType::StringList:
      return "an array of strings";
  }
  return "?";
}

Error invalidArgs(const std::string& field, const std::string& rule) {
  return makeError("invalid_args", "field 'args" + (field.empty() ? std::string() : "." + field) + "': " + rule);
}

}  // namespace

const std::map<std::string, VerbArgRules>& verbArgRules() {
  static const ArgRule app{ArgType::String, true};
  static const std::map<std::string, VerbArgRules> rules = {
      {"ping", {{"delay_ms", {ArgType::Integer, false}}}},
      {"host.info", {}},
      {"host.metrics", {}},
      {"app.deploy",
       {{"app", app},
        {"deployment", {ArgType::Integer, true}},
        {"spec", {ArgType::Object, true}},
        {"keep", {ArgType::Integer, false}},
        {"image", {ArgType::String, false}},
        {"sealed", {ArgType::String, false}},
        {"deployment_id", {ArgType::String, false}},
        {"routing", {ArgType::Object, false}},
        {"sealed_certificates", {ArgType::String, false}},
        {"downtime", {ArgType::Boolean, false}},
        // Built from git (docs/builds.md): the commit to build, the app's source credentials
        // (sealed while queued, opened into source_credentials at dispatch).
        {"commit", {ArgType::String, false}},
        {"sealed_source", {ArgType::String, false}},
        {"source_credentials", {ArgType::Object, false}}}},
      {"app.build.cancel", {{"app", app}}},
      {"app.routes", {{"app", app}, {"routing", {ArgType::Object, true}}, {"sealed_certificates", {ArgType::String, false}}}},
      {"app.start", {{"app", app}}},
      {"app.stop", {{"app", app}}},
      {"app.restart", {{"app", app}}},
      {"app.status", {{"app", app}}},
      {"app.delete", {{"app", app}, {"volumes", {ArgType::Boolean, false}}, {"volume_names", {ArgType::StringList, false}}}},
      {"app.limits", {{"app", app}, {"limits", {ArgType::Object, true}}}},
  };
  return rules;
}

Result<void> checkVerbArgs(const std::string& verb, const nlohmann::json& args) {
  if (!args.is_object()) return invalidArgs("", "must be an object");
  static const VerbArgRules kNone;
  auto known = verbArgRules().find(verb);
  const auto& rules = known == verbArgRules().end() ? kNone : known->second;
  for (const auto& [key, value] : args.items()) {
    auto rule = rules.find(key);
    if (rule == rules.end()) return invalidArgs(key, "is not an argument of " + verb);
    if (!hasType(value, rule->second.type)) return invalidArgs(key, std::string("must be ") + typeName(rule->second.type));
  }
  for (const auto& [key, rule] : rules) {
    if (rule.required && !args.contains(key)) return invalidArgs(key, "is required by " + verb);
  }
  return Ok{};
}

}  // namespace berth::protocol
