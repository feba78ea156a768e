#include "apps/routes.hpp"

#include <gtest/gtest.h>

namespace berth::apps {
namespace {

TEST(Routes, DomainsSharingAPrefixBecomeOneRouteAndTheGeneratedOneJoinsRoot) {
  const auto routes = computeRoutes("shop", 3000,
                                    {{"www.shop.com", "/", false},
                                     {"shop.com", "/", false},
                                     {"api.shop.com", "/v1/", true},
                                     {"shop.com", "/v1", true}},
                                    "apps.example.com");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0], (AppRoute{{"shop.apps.example.com", "shop.com", "www.shop.com"}, "/", false}));
  EXPECT_EQ(routes[1], (AppRoute{{"api.shop.com", "shop.com"}, "/v1", true}));  // trailing slash dropped
}

TEST(Routes, AnAppWithoutAPortHasNoRoutesAndNoBaseDomainMeansNoGeneratedName) {
  EXPECT_TRUE(computeRoutes("worker", 0, {{"w.example.com", "/", false}}, "apps.example.com").empty());
  const auto routes = computeRoutes("shop", 80, {}, "");
  EXPECT_TRUE(routes.empty());
}

TEST(Routes, StripOnTheRootPrefixMeansNothingAndIsDropped) {
  const auto routes = computeRoutes("shop", 80, {{"shop.com", "/", true}}, "");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_FALSE(routes[0].strip_prefix);
}

TEST(Routes, TheWireFormatRoundTripsAndRefusesWhatTheServerWouldNotSend) {
  const auto routes = computeRoutes("shop", 3000, {{"api.shop.com", "/v1", true}}, "apps.example.com");
  auto back = routesFromJson(toJson(routes));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, routes);
  auto refusal = [](const nlohmann::json& j) {
    auto r = routesFromJson(j);
    return r ? std::string() : r.error().message;
  };
  EXPECT_NE(refusal(nlohmann::json::object()).find("'routes'"), std::string::npos);
  EXPECT_NE(refusal(nlohmann::json::parse(R"([{"hosts":[]}])")).find("routes[0].hosts"), std::string::npos);
  EXPECT_NE(refusal(nlohmann::json::parse(R"([{"hosts":["a.com;"]}])")).find("routes[0].hosts"), std::string::npos);
  EXPECT_NE(refusal(nlohmann::json::parse(R"([{"hosts":["a.com"],"path_prefix":"/x;return 200"}])"))
                .find("routes[0].path_prefix"),
            std::string::npos);
  EXPECT_NE(refusal(nlohmann::json::parse(R"([{"hosts":["a.com"],"strip_prefix":"yes"}])")).find("strip_prefix"),
            std::string::npos);
  EXPECT_NE(refusal(nlohmann::json::parse(R"([{"hosts":["a.com"],"upstream":"x"}])")).find("routes[0].upstream"),
            std::string::npos);
}

}  // namespace
}  // namespace berth::apps
