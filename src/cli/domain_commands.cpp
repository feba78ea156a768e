// berth app domain add|rm|ls|cert: the CLI side of /api/v1/apps/NAME/domains.
// Validation is the server's (it names the field and the rule); the CLI only
// keeps user text from changing the request's path.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "cli/cli_common.hpp"
#include "common/encoding.hpp"

namespace berth::cli {
namespace {
using namespace detail;

// One path segment: '*' (a wildcard domain) stays, so "a.com/../x" or "a.com?y"
// reach the server as one segment it then refuses.
std::string pathSegment(const std::string& text) { return percentEncode(text, "*"); }

std::string domainsTarget(const std::string& app) { return "/api/v1/apps/" + pathSegment(app) + "/domains"; }

}  // namespace

void detail::printDomains(const nlohmann::json& list) {
  std::cout << fmt::format("{:<48} {:<24} {:<6} {}\n", "DOMAIN", "PATH", "STRIP", "KIND");
  for (const auto& d : list) {
    std::cout << fmt::format("{:<48} {:<24} {:<6} {}\n", str(d, "domain"), str(d, "path_prefix"),
                             d.value("strip_prefix", false) ? "yes" : "no",
                             d.value("generated", false) ? "generated" : "custom");
  }
}

void addDomainCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto name = std::make_shared<std::string>();
  auto domain = std::make_shared<std::string>();
  auto* group = app.add_subcommand("domain", "Domains the app answers at")->require_subcommand(1);

  auto path = std::make_shared<std::string>();
  auto strip = std::make_shared<bool>(false);
  auto* add = group->add_subcommand("add", "Add a custom domain (unique across apps)");
  add->add_option("name", *name, "App name")->required();
  add->add_option("domain", *domain, "Domain, e.g. shop.example.com (or *.example.com when allowed)")->required();
  add->add_option("--path", *path, "Only requests under this path prefix (default /)");
  add->add_flag("--strip-prefix", *strip, "Remove the path prefix before the request reaches the app");
  common(add);
  add->callback([&run, o, name, domain, path, strip] {
    run = [o, name, domain, path, strip] {
      nlohmann::json body = {{"domain", *domain}};
      if (!path->empty()) body["path_prefix"] = *path;
      if (*strip) body["strip_prefix"] = true;
      return request(*o, "POST", domainsTarget(*name), body, [name](const nlohmann::json& d) {
        std::cout << fmt::format("domain {}{} added to app {}\n", str(d, "domain"),
                                 d.value("path_prefix", std::string("/")) == "/" ? "" : str(d, "path_prefix"),
                                 printable(*name));
      });
    };
  });

  auto* rm = group->add_subcommand("rm", "Remove a custom domain");
  rm->add_option("name", *name, "App name")->required();
  rm->add_option("domain", *domain, "Domain")->required();
  common(rm);
  rm->callback([&run, o, name, domain] {
    run = [o, name, domain] {
      return request(*o, "DELETE", domainsTarget(*name) + "/" + pathSegment(*domain), nullptr,
                     [name, domain](const nlohmann::json&) {
                       std::cout << fmt::format("domain {} removed from app {}\n", printable(*domain),
                                                printable(*name));
                     });
    };
  });

  auto certFile = std::make_shared<std::string>();
  auto keyFile = std::make_shared<std::string>();
  auto* cert = group->add_subcommand("cert", "Use an uploaded certificate for a domain instead of ACME");
  cert->add_option("name", *name, "App name")->required();
  cert->add_option("domain", *domain, "Domain")->required();
  cert->add_option("--cert", *certFile, "PEM file: the certificate chain, leaf first")->required()->check(CLI::ExistingFile);
  cert->add_option("--key", *keyFile, "PEM file: its private key")->required()->check(CLI::ExistingFile);
  common(cert);
  cert->callback([&run, o, name, domain, certFile, keyFile] {
    run = [o, name, domain, certFile, keyFile] {
      auto readAll = [](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
      };
      const nlohmann::json body = {{"certificate", readAll(*certFile)}, {"key", readAll(*keyFile)}};
      return request(*o, "PUT", domainsTarget(*name) + "/" + pathSegment(*domain) + "/certificate", body,
                     [](const nlohmann::json& d) {
                       std::cout << fmt::format("certificate for {} from {} stored; the node serves it next\n",
                                                str(d, "domain"), str(d, "issuer"));
                     });
    };
  });

  auto* ls = group->add_subcommand("ls", "List the app's domains (the generated one too)");
  ls->add_option("name", *name, "App name")->required();
  common(ls);
  ls->callback([&run, o, name] {
    run = [o, name] { return request(*o, "GET", domainsTarget(*name), nullptr, printDomains); };
  });
}

}  // namespace berth::cli
