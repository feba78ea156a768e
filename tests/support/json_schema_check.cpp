#include "json_schema_check.hpp"

#include <set>

namespace berth::testing {
namespace {

const std::set<std::string> kChecked = {"type",    "properties", "required", "additionalProperties",
                                        "items",   "enum",       "const",    "anyOf",
                                        "minimum", "maximum",    "$ref"};
const std::set<std::string> kAnnotations = {"description", "title", "format", "example", "examples", "default"};

bool hasType(const nlohmann::json& value, const std::string& type) {
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "string") return value.is_string();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  return false;
}

class Checker {
 public:
  explicit Checker(const nlohmann::json& root) : root_(root) {}

  void check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& at, int depth = 0) {
    if (depth > 64) return problem(at, "schema nests deeper than 64 (a $ref cycle?)");
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) problem(at, "is not allowed here");
      return;
    }
    if (!schema.is_object()) return problem(at, "schema is not an object");
    if (schema.contains("$ref")) {
      const auto* target = resolve(schema["$ref"]);
      if (!target) return problem(at, "unresolvable $ref " + schema["$ref"].dump());
      check(*target, value, at, depth + 1);
    }
    if (schema.contains("type")) {
      const auto& type = schema["type"];
      bool ok = false;
      if (type.is_string()) ok = hasType(value, type.get<std::string>());
      for (const auto& t : type.is_array() ? type : nlohmann::json::array())
        ok = ok || (t.is_string() && hasType(value, t.get<std::string>()));
      if (!ok) return problem(at, "must be of type " + type.dump() + ", is " + value.dump().substr(0, 80));
    }
    if (schema.contains("enum")) {
      bool found = false;
      for (const auto& option : schema["enum"]) found = found || option == value;
      if (!found) problem(at, "must be one of " + schema["enum"].dump() + ", is " + value.dump().substr(0, 80));
    }
    if (schema.contains("const") && schema["const"] != value)
      problem(at, "must be " + schema["const"].dump() + ", is " + value.dump().substr(0, 80));
    if (value.is_number()) {
      if (schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>())
        problem(at, "must be at least " + schema["minimum"].dump());
      if (schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>())
        problem(at, "must be at most " + schema["maximum"].dump());
    }
    if (schema.contains("anyOf")) {
      bool any = false;
      for (const auto& option : schema["anyOf"]) {
        Checker inner(root_);
        inner.check(option, value, at, depth + 1);
        any = any || inner.problems_.empty();
      }
      if (!any) problem(at, "matches none of anyOf, is " + value.dump().substr(0, 80));
    }
    if (value.is_object()) checkObject(schema, value, at, depth);
    if (value.is_array() && schema.contains("items")) {
      for (std::size_t i = 0; i < value.size(); ++i)
        check(schema["items"], value[i], at + "/" + std::to_string(i), depth + 1);
    }
  }

  std::vector<std::string> problems_;

 private:
  void checkObject(const nlohmann::json& schema, const nlohmann::json& value, const std::string& at, int depth) {
    for (const auto& name : schema.value("required", nlohmann::json::array()))
      if (!value.contains(name.get<std::string>())) problem(at, "lacks required property " + name.get<std::string>());
    const auto properties = schema.value("properties", nlohmann::json::object());
    for (const auto& [key, item] : value.items()) {
      if (properties.contains(key)) {
        check(properties[key], item, at + "/" + key, depth + 1);
      } else if (schema.contains("additionalProperties")) {
        const auto& extra = schema["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>())
          problem(at, "has property " + key + " the document does not describe");
        else
          check(extra, item, at + "/" + key, depth + 1);
      }
    }
  }

  // "#/a/b" within the document; nothing outside it.
  const nlohmann::json* resolve(const nlohmann::json& ref) const {
    if (!ref.is_string()) return nullptr;
    const auto text = ref.get<std::string>();
    if (text.rfind("#/", 0) != 0) return nullptr;
    try {
      const auto pointer = nlohmann::json::json_pointer(text.substr(1));
      return root_.contains(pointer) ? &root_.at(pointer) : nullptr;
    } catch (const nlohmann::json::exception&) {
      return nullptr;
    }
  }

  void problem(const std::string& at, const std::string& rule) {
    problems_.push_back((at.empty() ? "/" : at) + ": " + rule);
  }

  const nlohmann::json& root_;
};

}  // namespace

std::vector<std::string> schemaProblems(const nlohmann::json& root, const nlohmann::json& schema,
                                        const nlohmann::json& value) {
  Checker checker(root);
  checker.check(schema, value, "");
  return checker.problems_;
}

std::vector<std::string> unsupportedKeywords(const nlohmann::json& schema, const std::string& where) {
  std::vector<std::string> out;
  if (!schema.is_object()) return out;
  for (const auto& [key, item] : schema.items()) {
    if (!kChecked.count(key) && !kAnnotations.count(key)) out.push_back(where + ": " + key);
    auto nested = [&](const nlohmann::json& s, const std::string& w) {
      auto more = unsupportedKeywords(s, w);
      out.insert(out.end(), more.begin(), more.end());
    };
    if (key == "properties" && item.is_object())
      for (const auto& [name, s] : item.items()) nested(s, where + "/properties/" + name);
    if ((key == "items" || key == "additionalProperties") && item.is_object()) nested(item, where + "/" + key);
    if (key == "anyOf" && item.is_array())
      for (std::size_t i = 0; i < item.size(); ++i) nested(item[i], where + "/anyOf/" + std::to_string(i));
  }
  return out;
}

}  // namespace berth::testing
