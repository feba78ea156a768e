#include "proxy/hold/hold_request.hpp"

#include <gtest/gtest.h>

namespace berth::proxy::hold {
namespace {

TEST(HoldRequest, TheAppIsReadFromTheProxysHeaderInAnyCase) {
  auto app = appOfRequest("GET /x HTTP/1.1\r\nHost: shop.test\r\nx-berth-app:  shop \r\n\r\nbody");
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_TRUE(app->has_value());
  EXPECT_EQ(**app, "shop");
}

// Apps outside the default org are named by their key (apps/app_key.hpp).
TEST(HoldRequest, AnAppKeyOfAnotherOrgIsAnApp) {
  auto app = appOfRequest("GET / HTTP/1.1\r\nX-Berth-App: web.acme\r\n\r\n");
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_TRUE(app->has_value());
  EXPECT_EQ(**app, "web.acme");
  EXPECT_FALSE(appOfRequest("GET / HTTP/1.1\r\nX-Berth-App: web.acme.x\r\n\r\n").ok());
}

TEST(HoldRequest, AnIncompleteHeadIsWaitedFor) {
  auto app = appOfRequest("GET / HTTP/1.1\r\nX-Berth-App: shop\r\n");
  ASSERT_TRUE(app.ok());
  EXPECT_FALSE(app->has_value());
}

TEST(HoldRequest, AMissingRepeatedOrInvalidAppIsRefusedNamingTheHeader) {
  for (const char* head : {"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                           "GET / HTTP/1.1\r\nX-Berth-App: a\r\nX-Berth-App: b\r\n\r\n",
                           "GET / HTTP/1.1\r\nX-Berth-App: ../etc\r\n\r\n",
                           "GET / HTTP/1.1\r\nX-Berth-App: \r\n\r\n"}) {
    auto app = appOfRequest(head);
    ASSERT_FALSE(app.ok()) << head;
    EXPECT_NE(app.error().message.find("X-Berth-App"), std::string::npos) << app.error().message;
  }
}

TEST(HoldRequest, AHeadLongerThanTheLimitIsRefusedWhetherOrNotItEnded) {
  const std::string filler(kMaxHeadBytes, 'a');
  auto unended = appOfRequest("GET / HTTP/1.1\r\nX-Long: " + filler);
  ASSERT_FALSE(unended.ok());
  EXPECT_NE(unended.error().message.find("at most"), std::string::npos);
  auto ended = appOfRequest("GET / HTTP/1.1\r\nX-Long: " + filler + "\r\nX-Berth-App: a\r\n\r\n");
  EXPECT_FALSE(ended.ok());
}

TEST(HoldRequest, TheUnavailableAnswerIsA503WithRetryAfterThatClosesTheConnection) {
  const std::string answer = unavailableResponse(7, "app shop has no upstream ready");
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u);
  EXPECT_NE(answer.find("\r\nRetry-After: 7\r\n"), std::string::npos);
  EXPECT_NE(answer.find("\r\nConnection: close\r\n"), std::string::npos);
  const auto body = answer.substr(answer.find("\r\n\r\n") + 4);
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(body.find("no upstream ready"), std::string::npos);
}

TEST(HoldRequest, OnlyAWholeBodylessIdempotentRequestMayBeSentAgain) {
  EXPECT_TRUE(canSendAgain("GET / HTTP/1.1\r\nX-Berth-App: a\r\n\r\n"));
  EXPECT_TRUE(canSendAgain("HEAD / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(canSendAgain("DELETE /x HTTP/1.1\r\ncontent-length: 0\r\n\r\n"));
  EXPECT_FALSE(canSendAgain("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) << "not idempotent";
  EXPECT_FALSE(canSendAgain("PATCH / HTTP/1.1\r\n\r\n")) << "not idempotent";
  EXPECT_FALSE(canSendAgain("GET / HTTP/1.1\r\nX-Berth-App: a\r\n")) << "head incomplete";
  EXPECT_FALSE(canSendAgain("PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\n")) << "body to come";
  EXPECT_FALSE(canSendAgain("PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody")) << "a body";
  EXPECT_FALSE(canSendAgain("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")) << "a chunked body";
  EXPECT_FALSE(canSendAgain("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")) << "two requests";
  EXPECT_FALSE(canSendAgain("get / HTTP/1.1\r\n\r\n")) << "methods are case-sensitive";
  EXPECT_FALSE(canSendAgain(""));
}

TEST(HoldRequest, APassedRequestAsksForTheConnectionToCloseUnlessItUpgrades) {
  EXPECT_EQ(closingAfterAnswer("GET / HTTP/1.1\r\nHost: a\r\nconnection: keep-alive\r\nX-Berth-App: a\r\n\r\nbody"),
            "GET / HTTP/1.1\r\nHost: a\r\nX-Berth-App: a\r\nConnection: close\r\n\r\nbody");
  EXPECT_EQ(closingAfterAnswer("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  const std::string upgrade = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
  EXPECT_EQ(closingAfterAnswer(upgrade), upgrade);
  EXPECT_EQ(closingAfterAnswer("GET / HTTP/1.1\r\nHost: a\r\n"), "GET / HTTP/1.1\r\nHost: a\r\n") << "incomplete";
}

TEST(HoldRequest, HeadsAnAppsParserCouldReadOtherwiseAreRefused) {
  for (const char* head : {"GET / HTTP/1.1\r\nX-Berth-App: a\nContent-Length: 5\r\n\r\n",
                           "GET / HTTP/1.1\r\nX-Berth-App: a\r\nConnection: close,\r\n keep-alive\r\n\r\n",
                           "GET / HTTP/1.1\r\nX-Berth-App: a\r\nContent-Length : 5\r\n\r\n"}) {
    auto app = appOfRequest(head);
    ASSERT_FALSE(app.ok()) << head;
    EXPECT_NE(app.error().message.find("'request'"), std::string::npos) << app.error().message;
  }
}

TEST(HoldRequest, AnAnswerToAnUpgradeThatDoesNotSwitchAsksForTheConnectionToClose) {
  EXPECT_TRUE(asksForUpgrade("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(asksForUpgrade("GET / HTTP/1.1\r\nX-Upgrade: no\r\n\r\n"));
  EXPECT_TRUE(switchesProtocols("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_FALSE(switchesProtocols("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(withConnectionClose("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

}  // namespace
}  // namespace berth::proxy::hold
