// berth app source|plan|build|hook: the CLI side of an app built from git
// (docs/builds.md), and the --git flags of `berth app deploy`. Validation is
// the server's; the CLI keeps user text out of request paths and reads a git
// token only from a named environment variable, never from argv (which any
// local user can read in /proc).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/cli.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/encoding.hpp"
#include "common/json.hpp"

namespace berth::cli {
namespace {
using namespace detail;

std::string appTarget(const std::string& app, const std::string& rest) {
  return "/api/v1/apps/" + percentEncode(app, "") + rest;
}

void printSource(const nlohmann::json& s) {
  std::cout << fmt::format("kind:        {}\n", str(s, "kind"));
  if (s.value("kind", std::string()) == "https") std::cout << fmt::format("username:    {}\n", str(s, "username"));
  if (!s.value("public_key", std::string()).empty()) {
    std::cout << fmt::format("public key:  {}\n", str(s, "public_key"));
    std::cout << fmt::format("             {}\n", str(s, "public_key_fingerprint"));
  }
  std::cout << fmt::format("host key:    {}\n", s.value("host_key", std::string()).empty() ? "(not pinned)" : str(s, "host_key"));
  const auto offered = s.value("offered_host_keys", nlohmann::json::array());
  if (offered.is_array() && !offered.empty()) {
    std::cout << "offered:     ";
    for (std::size_t i = 0; i < offered.size(); ++i)
      std::cout << (i ? "\n             " : "") << printable(offered[i].is_string() ? offered[i].get<std::string>() : "");
    std::cout << "\n";
  }
  std::cout << fmt::format("webhook:     {} ({})\n", str(s, "hook_url"),
                           s.value("hook_secret_set", false) ? "secret set" : "no secret: `berth app hook secret`");
}

Result<std::string> readAll(const std::string& file) {
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file);
  if (!in) return makeError("usage", "cannot read " + file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

void addSourceDeployFlags(CLI::App* deploy, SourceFlags& f) {
  deploy->add_option("--git", f.git, "Build from this git repository (https:// or ssh:// or user@host:path)");
  deploy->add_option("--ref", f.ref, "Branch, tag or full commit to build (default main)");
  deploy->add_option("--dir", f.dir, "Build context inside the repository");
  deploy->add_option("--dockerfile", f.dockerfile, "Dockerfile, relative to --dir (default: Dockerfile, else a build plan)");
  deploy->add_option("--target", f.target, "Dockerfile stage to build");
  deploy->add_option("--build-arg", f.build_args, "Build argument KEY=VALUE (not for secrets: they stay in the image)");
  deploy->add_flag("--rebuild", f.rebuild, "Build even when this commit's image is on the node");
  deploy->add_option("--host-key", f.host_key, "Pin the git server's ssh host key (SHA256:..., as ssh-keygen -l prints)");
  deploy->add_option("--token-env", f.token_env, "Variable holding the https token for the repository");
  deploy->add_option("--username", f.username, "User the token goes with (default x-access-token)");
}

Result<void> addSourceToBody(const SourceFlags& f, nlohmann::json& body) {
  if (f.git.empty()) {
    for (auto [flag, value] : {std::pair{"--ref", &f.ref}, std::pair{"--dir", &f.dir},
                               std::pair{"--dockerfile", &f.dockerfile}, std::pair{"--target", &f.target}}) {
      if (!value->empty()) return makeError("usage", std::string(flag) + " goes with --git");
    }
    if (!f.build_args.empty() || f.rebuild) return makeError("usage", "--build-arg and --rebuild go with --git");
    return Ok{};
  }
  nlohmann::json source = body.contains("source") && body["source"].is_object() ? body["source"] : nlohmann::json::object();
  source["git"] = f.git;
  if (!f.ref.empty()) source["ref"] = f.ref;
  if (!f.dir.empty()) source["dir"] = f.dir;
  if (!f.dockerfile.empty()) source["dockerfile"] = f.dockerfile;
  if (!f.target.empty()) source["target"] = f.target;
  for (const auto& item : f.build_args) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return makeError("usage", "--build-arg wants KEY=VALUE, got '" + item + "'");
    source["build_args"][item.substr(0, eq)] = item.substr(eq + 1);
  }
  if (f.rebuild) source["rebuild"] = true;
  body["source"] = source;
  body.erase("image");
  return Ok{};
}

Result<nlohmann::json> sourceCredentialsBody(const SourceFlags& f, const std::map<std::string, std::string>& env) {
  nlohmann::json body = nlohmann::json::object();
  if (!f.token_env.empty()) {
    auto it = env.find(f.token_env);
    if (it == env.end() || it->second.empty())
      return makeError("usage", "--token-env " + f.token_env + ": the variable is not set");
    body["token"] = it->second;
  }
  if (!f.username.empty()) {
    if (f.token_env.empty()) return makeError("usage", "--username goes with --token-env");
    body["username"] = f.username;
  }
  if (!f.host_key.empty()) body["host_key"] = f.host_key;
  if (body.empty()) return nlohmann::json();
  return body;
}

void addSourceCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto name = std::make_shared<std::string>();

  auto* source = app.add_subcommand("source", "The git repository an app is built from: credentials and host key")
                     ->require_subcommand(1);
  auto* show = source->add_subcommand("show", "How the app reaches its repository (never the token or private key)");
  show->add_option("name", *name, "App name")->required();
  common(show);
  show->callback([&run, o, name] {
    run = [o, name] { return request(*o, "GET", appTarget(*name, "/source"), nullptr, printSource); };
  });

  auto fingerprint = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* trust = source->add_subcommand("trust", "Pin the git server's ssh host key (one the last fetch was offered)");
  trust->add_option("name", *name, "App name")->required();
  trust->add_option("fingerprint", *fingerprint, "SHA256:... (default: the only key offered)");
  trust->add_flag("--force", *force, "Pin a key the server did not offer (admins only)");
  common(trust);
  trust->callback([&run, o, name, fingerprint, force] {
    run = [o, name, fingerprint, force]() -> int {
      std::string chosen = *fingerprint;
      if (chosen.empty()) {
        auto settings = resolveClientSettings(o->flags, processEnvironment());
        if (!settings) return fail(settings.error());
        auto api = ApiClient::create(*settings);
        if (!api) return fail(api.error());
        auto shown = api->call("GET", appTarget(*name, "/source"));
        if (!shown) return fail(shown.error());
        const auto offered = shown->body.value("offered_host_keys", nlohmann::json::array());
        if (!offered.is_array() || offered.size() != 1 || !offered[0].is_string())
          return fail(makeError("usage", "name the fingerprint to trust; offered: " +
                                             printable(offered.dump())));
        chosen = offered[0].get<std::string>();
      }
      nlohmann::json body = {{"fingerprint", chosen}};
      if (*force) body["force"] = true;
      return request(*o, "POST", appTarget(*name, "/source/trust"), body, [](const nlohmann::json& s) {
        std::cout << fmt::format("host key {} pinned\n", str(s, "host_key"));
      });
    };
  });

  auto generate = std::make_shared<bool>(false);
  auto upload = std::make_shared<std::string>();
  auto* key = source->add_subcommand("key", "Set the app's ssh deploy key: --generate one, or --upload FILE");
  key->add_option("name", *name, "App name")->required();
  key->add_flag("--generate", *generate, "Generate an Ed25519 key and print its public half");
  key->add_option("--upload", *upload, "An unencrypted OpenSSH Ed25519 private key file (- for stdin)");
  common(key);
  key->callback([&run, o, name, generate, upload] {
    run = [o, name, generate, upload]() -> int {
      if (*generate == !upload->empty()) return fail(makeError("usage", "give --generate or --upload FILE"));
      nlohmann::json body = {{"generate", true}};
      if (!upload->empty()) {
        auto text = readAll(*upload);
        if (!text) return fail(text.error());
        body = {{"private_key", *text}};
      }
      return request(*o, "POST", appTarget(*name, "/source/deploy-key"), body, [](const nlohmann::json& k) {
        std::cout << str(k, "public_key") << "\n";
        std::cerr << fmt::format("fingerprint {}; add the public key above to the repository as a read-only deploy key\n",
                                 str(k, "public_key_fingerprint"));
      });
    };
  });

  auto set = std::make_shared<std::string>();
  auto* plan = app.add_subcommand("plan", "The build plan of an app built without a Dockerfile, and its override");
  plan->add_option("name", *name, "App name")->required();
  plan->add_option("--set", *set, "Store this override (JSON file, - for stdin; null clears)");
  common(plan);
  plan->callback([&run, o, name, set] {
    run = [o, name, set]() -> int {
      if (!set->empty()) {
        auto text = readAll(*set);
        if (!text) return fail(text.error());
        auto parsed = parseJson(*text);
        if (!parsed) return fail(makeError("usage", *set + " is not JSON: " + parsed.error().message));
        return request(*o, "PUT", appTarget(*name, "/source"), {{"plan", *parsed}}, [](const nlohmann::json& s) {
          std::cout << "plan override stored: " << printable(s.value("plan", nlohmann::json()).dump()) << "\n";
        });
      }
      return request(*o, "GET", appTarget(*name, "/plan"), nullptr, [](const nlohmann::json& p) {
        if (p.contains("plan") && !p["plan"].is_null())
          std::cout << fmt::format("# deployment {}, commit {}\n{}\n", str(p, "deployment"), str(p, "commit"),
                                   printable(p["plan"].dump(2)));
        else
          std::cout << "# no deployment has been built from a plan yet\n";
        std::cout << "# override: " << printable(p.value("override", nlohmann::json()).dump()) << "\n";
      });
    };
  });

  auto* build = app.add_subcommand("build", "Builds of an app from git")->require_subcommand(1);
  auto* cancel = build->add_subcommand("cancel", "Stop the app's running build (the running version keeps serving)");
  cancel->add_option("name", *name, "App name")->required();
  common(cancel);
  cancel->callback([&run, o, name] {
    run = [o, name] {
      return request(*o, "POST", appTarget(*name, "/build/cancel"), nlohmann::json::object(),
                     [name](const nlohmann::json& a) {
                       std::cout << fmt::format("build cancel sent to {} ({})\n", printable(*name), str(a, "command_id"));
                     });
    };
  });

  auto* hook = app.add_subcommand("hook", "Push-to-deploy webhook")->require_subcommand(1);
  auto* secret = hook->add_subcommand("secret", "Make a new webhook secret (shown once; the old one stops working)");
  secret->add_option("name", *name, "App name")->required();
  common(secret);
  secret->callback([&run, o, name] {
    run = [o, name] {
      return request(*o, "POST", appTarget(*name, "/hooks/secret"), nlohmann::json::object(),
                     [](const nlohmann::json& h) {
                       std::cout << fmt::format("secret: {}\nurl:    <server>{}\n", str(h, "secret"), str(h, "url"));
                       std::cerr << "shown once: store it in the git host's webhook settings now\n";
                     });
    };
  });
}

}  // namespace berth::cli
