// `berth login|logout|whoami`, `berth key ...`, `berth org ...`, `berth user ...`:
// the access part of the CLI (docs/access.md). Passwords are read from the
// terminal without echo, or from stdin with --password-stdin; never from a flag.
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <iostream>

#include "cli/cli.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/json.hpp"
#include "pki/sealed_file.hpp"

namespace berth::cli {
namespace {

using namespace detail;

// One line from stdin; with a terminal, prompted and not echoed.
std::string readPassword(const std::string& prompt, bool from_stdin) {
  std::string line;
  const bool tty = !from_stdin && ::isatty(STDIN_FILENO);
  termios saved{};
  if (tty) {
    std::cerr << prompt << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Writes `changes` into the context file the CLI reads (0600), keeping its other fields.
Result<std::string> updateContext(const ClientSettings& settings, const nlohmann::json& changes) {
  const std::string& path = settings.context_path;
  if (path.empty()) return makeError("usage", "no context file to save the session in: pass --context FILE or set HOME");
  nlohmann::json context = nlohmann::json::object();
  if (pki::fileExists(path)) {
    auto text = pki::readFile(path);
    if (!text) return text.error();
    context = parseJsonOrDiscarded(*text);
    if (!context.is_object()) context = nlohmann::json::object();
  }
  if (!context.contains("server") || context["server"].get<std::string>().empty()) context["server"] = settings.server;
  if (!context.contains("ca_file")) context["ca_file"] = settings.ca_file;
  for (const auto& [k, v] : changes.items()) context[k] = v;
  if (auto r = pki::writePrivateFile(path, context.dump(2)); !r) return r.error();
  return path;
}

void printKey(const nlohmann::json& k) {
  std::cout << fmt::format("{:<22} {:<16} {:<8} {:<12} {:<10} {:<10} {}\n", str(k, "id"), str(k, "name"),
                           str(k, "scope"), str(k, "user"), str(k, "org"), str(k, "state"),
                           k.value("expires_at", std::int64_t{0}) == 0 ? "never" : str(k, "expires_at"));
}

void printKeyHeader() {
  std::cout << fmt::format("{:<22} {:<16} {:<8} {:<12} {:<10} {:<10} {}\n", "ID", "NAME", "SCOPE", "USER", "ORG",
                           "STATE", "EXPIRES");
}

}  // namespace

void addAccessCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto userName = std::make_shared<std::string>();
  auto passwordStdin = std::make_shared<bool>(false);

  auto* login = app.add_subcommand("login", "Log in as a user; the session is saved in the CLI context");
  login->add_option("user", *userName, "User name")->required();
  login->add_flag("--password-stdin", *passwordStdin, "Read the password from stdin");
  common(login);
  login->callback([&run, o, userName, passwordStdin] {
    run = [o, userName, passwordStdin]() -> int {
      auto settings = resolveClientSettings(o->flags, processEnvironment());
      if (!settings) return fail(settings.error());
      const std::string password = readPassword("password for " + *userName + ": ", *passwordStdin);
      settings->api_key.clear();
      auto client = ApiClient::create(*settings);
      if (!client) return fail(client.error());
      auto reply = client->call("POST", "/api/v1/login", {{"name", *userName}, {"password", password}});
      if (!reply) return fail(reply.error());
      nlohmann::json changes = {{"session", reply->body.value("token", std::string())}};
      if (!o->flags.org.empty()) changes["org"] = o->flags.org;
      auto saved = updateContext(*settings, changes);
      if (!saved) return fail(saved.error());
      if (o->json) {
        std::cout << nlohmann::json{{"user", *userName}, {"expires_at", reply->body["expires_at"]}}.dump(2) << "\n";
      } else {
        std::cout << "logged in as " << printable(*userName) << " (session saved in " << *saved << ")\n";
      }
      return exit_code::kOk;
    };
  });

  auto* logout = app.add_subcommand("logout", "End the saved session and forget it");
  common(logout);
  logout->callback([&run, o] {
    run = [o]() -> int {
      auto settings = resolveClientSettings(o->flags, processEnvironment());
      if (!settings) return fail(settings.error());
      auto client = ApiClient::create(*settings);
      if (!client) return fail(client.error());
      (void)client->call("POST", "/api/v1/logout", nlohmann::json::object());  // gone already is fine
      auto saved = updateContext(*settings, {{"session", ""}});
      if (!saved) return fail(saved.error());
      std::cout << "logged out\n";
      return exit_code::kOk;
    };
  });

  auto* whoami = app.add_subcommand("whoami", "Show who the CLI acts as: user, org, role and scope");
  common(whoami);
  whoami->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/whoami", nullptr, [](const nlohmann::json& w) {
        std::cout << fmt::format("user:          {}\norg:           {}\nrole:          {}\nplatform role: {}\n"
                                 "scope:         {}\ncredential:    {}\n",
                                 str(w, "user"), str(w, "org"), str(w, "role"), str(w, "platform_role"),
                                 str(w, "scope"), w.value("session", false) ? "session" : "key " + str(w, "key_id"));
      });
    };
  });

  // key
  auto* key = app.add_subcommand("key", "Manage API keys")->require_subcommand(1);
  auto scope = std::make_shared<std::string>("deploy");
  auto expires = std::make_shared<std::string>();
  auto keyName = std::make_shared<std::string>();
  auto* keyCreate = key->add_subcommand("create", "Create an API key (its secret is shown once)");
  keyCreate->add_option("--scope", *scope, "read | deploy | admin")->capture_default_str();
  keyCreate->add_option("--expires", *expires, "Lifetime, e.g. 30d or 12h (default: none)");
  keyCreate->add_option("--name", *keyName, "A name to recognise it by");
  common(keyCreate);
  keyCreate->callback([&run, o, scope, expires, keyName] {
    run = [o, scope, expires, keyName] {
      nlohmann::json body = {{"scope", *scope}};
      if (!expires->empty()) body["expires_in"] = *expires;
      if (!keyName->empty()) body["name"] = *keyName;
      return request(*o, "POST", "/api/v1/keys", body, [](const nlohmann::json& k) {
        std::cout << str(k, "key") << "\n\n(shown once) id " << str(k, "id") << ", scope " << str(k, "scope")
                  << ", org " << str(k, "org") << "\n";
      });
    };
  });
  auto* keyLs = key->add_subcommand("ls", "List your API keys (an admin sees the org's)");
  common(keyLs);
  keyLs->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/keys", nullptr, [](const nlohmann::json& body) {
        printKeyHeader();
        for (const auto& k : body["keys"]) printKey(k);
      });
    };
  });
  auto keyId = std::make_shared<std::string>();
  auto* keyRevoke = key->add_subcommand("revoke", "Revoke an API key at once");
  keyRevoke->add_option("id", *keyId, "Key id")->required();
  common(keyRevoke);
  keyRevoke->callback([&run, o, keyId] {
    run = [o, keyId] {
      return request(*o, "POST", "/api/v1/keys/" + *keyId + "/revoke", nlohmann::json::object(),
                     [](const nlohmann::json& k) { std::cout << "revoked " << str(k, "id") << "\n"; });
    };
  });
  auto overlap = std::make_shared<std::string>();
  auto* keyRotate = key->add_subcommand("rotate", "Replace an API key; the old one stops now or after --overlap");
  keyRotate->add_option("id", *keyId, "Key id")->required();
  keyRotate->add_option("--overlap", *overlap, "How long the old key keeps working, e.g. 1h (default: 0)");
  common(keyRotate);
  keyRotate->callback([&run, o, keyId, overlap] {
    run = [o, keyId, overlap] {
      nlohmann::json body = nlohmann::json::object();
      if (!overlap->empty()) body["overlap"] = *overlap;
      return request(*o, "POST", "/api/v1/keys/" + *keyId + "/rotate", body, [](const nlohmann::json& k) {
        std::cout << str(k, "key") << "\n\n(shown once) id " << str(k, "id") << " replaces " << str(k["replaces"], "id")
                  << ", which stops at " << str(k["replaces"], "revoked_at") << "\n";
      });
    };
  });

  // org
  auto* org = app.add_subcommand("org", "Manage organisations")->require_subcommand(1);
  auto orgName = std::make_shared<std::string>();
  auto* orgCreate = org->add_subcommand("create", "Create an organisation (platform admins); you become its owner");
  orgCreate->add_option("name", *orgName, "Name (an RFC 1123 label)")->required();
  common(orgCreate);
  orgCreate->callback([&run, o, orgName] {
    run = [o, orgName] {
      return request(*o, "POST", "/api/v1/orgs", {{"name", *orgName}},
                     [](const nlohmann::json& r) { std::cout << "created " << str(r, "name") << "\n"; });
    };
  });
  auto* orgLs = org->add_subcommand("ls", "List your organisations");
  common(orgLs);
  orgLs->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/orgs", nullptr, [](const nlohmann::json& body) {
        std::cout << fmt::format("{:<32} {}\n", "NAME", "ROLE");
        for (const auto& g : body["orgs"]) std::cout << fmt::format("{:<32} {}\n", str(g, "name"), str(g, "role"));
      });
    };
  });

  // user
  auto* user = app.add_subcommand("user", "Manage the users of an organisation")->require_subcommand(1);
  auto role = std::make_shared<std::string>("member");
  auto* invite = user->add_subcommand("invite", "Invite a user: prints a one-time token with an expiry");
  invite->add_option("name", *userName, "User name")->required();
  invite->add_option("--role", *role, "owner | admin | member | viewer")->capture_default_str();
  invite->add_option("--expires", *expires, "Lifetime of the invitation, e.g. 7d (default 7d)");
  common(invite);
  invite->callback([&run, o, userName, role, expires] {
    run = [o, userName, role, expires] {
      nlohmann::json body = {{"name", *userName}, {"role", *role}};
      if (!expires->empty()) body["expires_in"] = *expires;
      return request(*o, "POST", "/api/v1/users/invite", body, [](const nlohmann::json& i) {
        std::cout << str(i, "token") << "\n\n" << str(i, "name") << " joins " << str(i, "org") << " as "
                  << str(i, "role") << " with:\n  berth user accept TOKEN   (before " << str(i, "expires_at")
                  << ")\n";
      });
    };
  });
  auto inviteToken = std::make_shared<std::string>();
  auto* accept = user->add_subcommand("accept", "Accept an invitation and set your password");
  accept->add_option("token", *inviteToken, "The invitation token")->required();
  accept->add_flag("--password-stdin", *passwordStdin, "Read the password from stdin");
  common(accept);
  accept->callback([&run, o, inviteToken, passwordStdin] {
    run = [o, inviteToken, passwordStdin] {
      const std::string password = readPassword("password: ", *passwordStdin);
      return request(*o, "POST", "/api/v1/invites/accept", {{"token", *inviteToken}, {"password", password}},
                     [](const nlohmann::json& r) {
                       std::cout << str(r, "user") << " joined " << str(r, "org") << " as " << str(r, "role")
                                 << "; now: berth login " << str(r, "user") << "\n";
                     });
    };
  });
  auto* passwd = user->add_subcommand("passwd", "Set your own password");
  passwd->add_flag("--password-stdin", *passwordStdin, "Read the new (then the current) password from stdin");
  common(passwd);
  passwd->callback([&run, o, passwordStdin] {
    run = [o, passwordStdin] {
      nlohmann::json body = {{"password", readPassword("new password: ", *passwordStdin)}};
      const std::string current = readPassword("current password (empty if none): ", *passwordStdin);
      if (!current.empty()) body["current_password"] = current;
      return request(*o, "PUT", "/api/v1/users/me/password", body,
                     [](const nlohmann::json&) { std::cout << "password set\n"; });
    };
  });
  auto* userLs = user->add_subcommand("ls", "List the organisation's users");
  common(userLs);
  userLs->callback([&run, o] {
    run = [o] {
      return request(*o, "GET", "/api/v1/users", nullptr, [](const nlohmann::json& body) {
        std::cout << fmt::format("{:<32} {}\n", "NAME", "ROLE");
        for (const auto& u : body["users"]) std::cout << fmt::format("{:<32} {}\n", str(u, "name"), str(u, "role"));
      });
    };
  });
  auto* userRemove = user->add_subcommand("remove", "Remove a user from the organisation and revoke their keys in it");
  userRemove->add_option("name", *userName, "User name")->required();
  common(userRemove);
  userRemove->callback([&run, o, userName] {
    run = [o, userName] {
      return request(*o, "DELETE", "/api/v1/users/" + *userName, nullptr, [](const nlohmann::json& r) {
        std::cout << "removed " << str(r, "user") << " from " << str(r, "org") << " (" << str(r, "keys_revoked")
                  << " keys revoked)\n";
      });
    };
  });
}

}  // namespace berth::cli
