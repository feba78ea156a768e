// bench/auth_bench: does authorisation slow the API as orgs multiply?
// (issue 10's benchmark; docs/BENCHMARKS.md "Authorisation".)
//
// Two worlds in one process, the same build: "one org" (the default org, its
// 50 apps) and "100 orgs" (the default org's 50 apps plus 99 orgs x 50 apps,
// each org with an owner and an API key: 5,000 apps). In both the caller is
// alice, an owner of the default org (no platform role) with an admin-scope
// key, so both answer the same 50 apps. Each world is an Api over its own
// SQLite store (on /dev/shm when present, so fsyncs do not drown the figures)
// with the server's real AuthService, AppService and CommandService; requests
// go through Api::handle, the path every REST call takes after TLS and HTTP
// parsing (those are the same whatever the store holds and are left out, which
// makes the authorisation share of the time larger, not smaller). Rate limits
// live in the HTTP listener and are not on this path; the node command queue
// limit is raised to hold every deploy.
//
// Measured, in rounds alternating which world goes first: requests/s of
// `GET /api/v1/apps` and of `POST /api/v1/apps/app-N/deployments` (a deploy
// submission: spec validation, deployment row, command queued, audit record,
// one transaction). Prints each round and the medians with the ratio. A third
// world, one org holding all 5,000 apps, is measured for deploys as a control.
//
// bench/auth_bench [--rounds 5] [--seconds 2] [--orgs 100] [--apps 50]
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "auth/credentials.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "server/api.hpp"
#include "store/store.hpp"

namespace berth::bench {
namespace {

struct Options {
  int rounds = 5;
  double seconds = 2.0;
  int orgs = 100;
  int apps = 50;
};

std::string tempRoot() {
  const std::string base =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
  std::string pattern = base + "/berth-auth-bench-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return pattern;
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
    std::exit(1);
  }
  return std::move(*r);
}
void must(Result<void> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
    std::exit(1);
  }
}

// One world: a store seeded with `orgs` orgs of `apps` apps each, and an Api over it.
class World {
 public:
  // `first_org_apps`: apps of the default org (the caller's); every other org has `apps`.
  World(const std::string& dir, int orgs, int apps, int first_org_apps) {
    config_.max_queue = 10'000'000;
    // The clock stands still here, so no bucket would refill: rate limits are not what is measured.
    config_.rate_limit_key_per_s = config_.rate_limit_address_per_s = 1'000'000'000;
    config_.rate_limit_key_burst = config_.rate_limit_address_burst = 1'000'000'000;
    store_ = must(store::openSqliteStore(dir + "/berth.db"), "open store");
    commands_ = std::make_unique<server::CommandService>(*store_, metrics_, clock_, config_);
    identity_.emplace(must(server::loadOrCreateIdentity(dir + "/pki", {"localhost"}, clock_()), "identity"));
    gateway_ = std::make_unique<server::Gateway>(io_.get_executor(), *store_, *commands_, metrics_,
                                                 clock_, config_, *identity_);
    apps_ = std::make_unique<server::AppService>(*store_, *commands_, metrics_, clock_, config_, std::string(32, 'k'),
                                                 io_.get_executor());
    auth_ = std::make_unique<server::AuthService>(*store_, clock_);
    must(auth_->bootstrap(), "bootstrap");
    must(store_->transaction([&]() -> Result<void> { return seed(orgs, apps, first_org_apps); }), "seed");
    must(commands_->load(), "load commands");
    api_ = std::make_unique<server::Api>(
        server::ApiDependencies{*store_, *commands_, *gateway_, *apps_, *auth_, metrics_, config_, *identity_, clock_,
                                clock_(), certificates_, [] { return std::string("https://localhost"); }});
  }

  server::ApiResponse call(const std::string& method, const std::string& target, const std::string& body) {
    server::ApiRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.bearer = key_;
    request.request_id = "bench";
    request.remote_address = "127.0.0.1";
    return api_->handle(request);
  }

 private:
  Result<void> seed(int orgs, int apps, int first_org_apps) {
    const std::int64_t now = clock_();
    store::Node node;
    node.id = "n_bench";
    node.hostname = "bench";
    node.status = store::NodeStatus::Online;
    node.created_at = now;
    if (auto r = store_->upsertNode(node); !r) return r;
    auto& ids = store_->identity();
    for (int o = 0; o < orgs; ++o) {
      const std::string org = o == 0 ? "default" : "o" + std::to_string(o);
      if (o > 0) {
        if (auto r = ids.insertOrg({org, now}); !r) return r;
      }
      store::User user{newId("u"), o == 0 ? "alice" : "owner-" + org, "", "none", now};
      if (auto r = ids.insertUser(user); !r) return r;
      if (auto r = ids.putMembership({user.id, org, "owner", now}); !r) return r;
      const auto minted = auth::mintToken(auth::kKeyKind);
      store::ApiKey key;
      key.id = newId("key");
      key.name = "bench";
      key.secret_hash = minted.secret_hash;
      key.prefix = minted.prefix;
      key.user_id = user.id;
      key.org = org;
      key.scope = key.role = "admin";
      key.created_at = now;
      if (auto r = store_->insertApiKey(key); !r) return r;
      if (o == 0) key_ = minted.text;
      for (int a = 0; a < (o == 0 ? first_org_apps : apps); ++a) {
        store::App app;
        app.name = "app-" + std::to_string(a) + (o == 0 ? "" : "." + org);
        app.org = org;
        app.node_id = node.id;
        app.current_deployment = 1;
        app.next_deployment = 2;
        app.created_at = app.updated_at = now;
        if (auto r = store_->upsertApp(app); !r) return r;
        store::Deployment d;
        d.app = app.name;
        d.number = 1;
        d.spec = {{"image", "registry.example/app:1"}, {"port", 8080}};
        d.state = DeploymentState::Healthy;
        d.source = "deploy";
        d.created_at = d.updated_at = now;
        d.deployment_id = newId("dep");
        if (auto r = store_->upsertDeployment(d); !r) return r;
      }
    }
    return Ok{};
  }

  std::int64_t now_ = 1'800'000'000'000;
  Clock clock_ = [this] { return now_; };
  server::Metrics metrics_;
  server::ServerConfig config_;
  boost::asio::io_context io_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<server::CommandService> commands_;
  std::optional<server::ServerIdentity> identity_;
  std::unique_ptr<server::Gateway> gateway_;
  std::unique_ptr<server::AppService> apps_;
  std::unique_ptr<server::AuthService> auth_;
  server::ClientCertificates certificates_;
  std::unique_ptr<server::Api> api_;
  std::string key_;
};

// Requests/s of `next()` for `seconds`; exits when an answer is not `want`.
template <typename Next>
double rate(World& world, double seconds, int want, Next next) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  long n = 0;
  for (;; ++n) {
    if ((n & 15) == 0 && Clock::now() >= until) break;
    const auto [method, target, body] = next(n);
    const auto answer = world.call(method, target, body);
    if (answer.status != want) {
      std::fprintf(stderr, "%s %s answered %d: %s\n", method.c_str(), target.c_str(), answer.status,
                   answer.body.c_str());
      std::exit(1);
    }
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int run(const Options& options) {
  log::setLevel(log::Level::Warn);  // a log line per request would be most of what is measured
  const std::string root = tempRoot();
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{root};
  std::filesystem::create_directories(root + "/one");
  std::filesystem::create_directories(root + "/many");
  std::printf("seeding: one org x %d apps; %d orgs x %d apps (%s)\n", options.apps, options.orgs, options.apps,
              root.c_str());
  World one(root + "/one", 1, options.apps, options.apps);
  World many(root + "/many", options.orgs, options.apps, options.apps);
  // The control: one org holding as many apps as all the orgs together. Deploys
  // only (its app list is 100 times longer): tells the cost of orgs from the
  // cost of apps.
  std::filesystem::create_directories(root + "/control");
  World control(root + "/control", 1, options.apps, options.apps * options.orgs);
  World* worlds[3] = {&one, &many, &control};
  const std::string manyName = std::to_string(options.orgs) + " orgs";
  const std::string controlName = "1 org/" + std::to_string(options.apps * options.orgs);
  const char* names[3] = {"1 org", manyName.c_str(), controlName.c_str()};

  auto list = [](long) { return std::tuple<std::string, std::string, std::string>{"GET", "/api/v1/apps", ""}; };
  auto deploy = [&](long n) {
    const std::string body = R"({"image":"registry.example/app:)" + std::to_string(n % 1000) + R"(","port":8080})";
    return std::tuple<std::string, std::string, std::string>{
        "POST", "/api/v1/apps/app-" + std::to_string(n % options.apps) + "/deployments", body};
  };
  // Warm-up: caches (the principal cache, SQLite's page cache) filled in all.
  for (auto* w : worlds) {
    rate(*w, 0.3, 200, list);
    rate(*w, 0.3, 202, deploy);
  }
  std::vector<double> lists[3], deploys[3];
  std::printf("%-6s %-11s %14s %14s\n", "round", "world", "GET apps/s", "deploys/s");
  for (int round = 0; round < options.rounds; ++round) {
    for (int k = 0; k < 3; ++k) {
      const int i = (round + k) % 3;  // rotate which world goes first
      const double l = i == 2 ? 0 : rate(*worlds[i], options.seconds, 200, list);
      const double d = rate(*worlds[i], options.seconds, 202, deploy);
      lists[i].push_back(l);
      deploys[i].push_back(d);
      std::printf("%-6d %-11s %14.0f %14.0f\n", round + 1, names[i], l, d);
    }
  }
  const double l0 = median(lists[0]), l1 = median(lists[1]), d0 = median(deploys[0]), d1 = median(deploys[1]);
  const double d2 = median(deploys[2]);
  std::printf("\nmedian of %d rounds of %.1f s each\n", options.rounds, options.seconds);
  std::printf("GET /api/v1/apps          1 org %8.0f/s   %s %8.0f/s   ratio %.3f\n", l0, names[1], l1, l1 / l0);
  std::printf("POST .../deployments      1 org %8.0f/s   %s %8.0f/s   ratio %.3f\n", d0, names[1], d1, d1 / d0);
  std::printf("control: POST .../deployments with %s apps in one org %8.0f/s   ratio %.3f\n",
              controlName.substr(6).c_str(), d2, d2 / d0);
  const bool within = l1 >= 0.9 * l0 && d1 >= 0.9 * d0;
  std::printf("target (100 orgs within 10 %% of 1 org): %s\n", within ? "met" : "NOT met");
  return within ? 0 : 2;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  berth::bench::Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--rounds")
      options.rounds = std::max(1, std::stoi(value));
    else if (flag == "--seconds")
      options.seconds = std::max(0.1, std::stod(value));
    else if (flag == "--orgs")
      options.orgs = std::max(2, std::stoi(value));
    else if (flag == "--apps")
      options.apps = std::max(1, std::stoi(value));
    else {
      std::fprintf(stderr, "usage: auth_bench [--rounds N] [--seconds S] [--orgs N] [--apps N]\n");
      return 64;
    }
  }
  return berth::bench::run(options);
}
