// What each verb may carry in args: the one table both sides check, so an
// allowed verb with unexpected arguments (`ping {"cmd":"id; rm -rf /"}`) is
// refused by the server before it is queued and by the agent before it runs.
// Pure.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"

namespace berth::protocol {

enum class ArgType { String, Integer, Boolean, Object, StringList };

struct ArgRule {
  ArgType type = ArgType::String;
  bool required = false;
};

using VerbArgRules = std::map<std::string, ArgRule>;

// Every verb berth knows, built-in and app.*; a verb missing here takes no args.
const std::map<std::string, VerbArgRules>& verbArgRules();

// Fails "invalid_args" naming the field: args not an object, a key the verb
// does not declare, a required key missing, or a value of the wrong type.
Result<void> checkVerbArgs(const std::string& verb, const nlohmann::json& args);

}  // namespace berth::protocol
