#include <catch2/catch.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

#include "sidecar/exchange_rules.h"
#include "sidecar/http_rules.h"

using namespace mlsidecar;

TEST_CASE("a passed deadline closes the model's side only while the client awaits an answer") {
  for (Phase p : {Phase::connect, Phase::upstream_wait}) {
    const DeadlineAction a = on_deadline(p);
    CHECK(a.close_upstream);
    CHECK_FALSE(a.close_client);  // the client still gets its 504
  }
  for (Phase p : {Phase::idle, Phase::header, Phase::queued, Phase::request_body,
                  Phase::upstream_body, Phase::client_write}) {
    const DeadlineAction a = on_deadline(p);
    CHECK(a.close_upstream);
    CHECK(a.close_client);
  }
}

TEST_CASE("the client is watched only while the model or the queue holds its request") {
  CHECK(watches_client(Phase::upstream_wait));
  CHECK(watches_client(Phase::queued));
  CHECK_FALSE(watches_client(Phase::idle));
  CHECK_FALSE(watches_client(Phase::request_body));
  CHECK_FALSE(watches_client(Phase::client_write));
}

TEST_CASE("response framing and keep-alive") {
  ResponseFacts f;  // HTTP/1.1 keep-alive client, 200 with a length
  f.has_content_length = true;
  SECTION("a response with a length keeps the connection as it is") {
    const ResponseFraming r = frame_response(f);
    CHECK_FALSE(r.bodyless);
    CHECK_FALSE(r.chunked);
    CHECK(r.keep_alive);
  }
  SECTION("no length: chunked for HTTP/1.1") {
    f.has_content_length = false;
    const ResponseFraming r = frame_response(f);
    CHECK(r.chunked);
    CHECK(r.keep_alive);
  }
  SECTION("no length: an HTTP/1.0 client reads to the close") {
    f.has_content_length = false;
    f.client_version = 10;
    const ResponseFraming r = frame_response(f);
    CHECK_FALSE(r.chunked);
    CHECK_FALSE(r.keep_alive);
  }
  SECTION("bodyless responses need no framing and keep the connection") {
    f.has_content_length = false;
    for (unsigned status : {204u, 304u, 101u}) {
      f.status = status;
      const ResponseFraming r = frame_response(f);
      CHECK(r.bodyless);
      CHECK_FALSE(r.chunked);
      CHECK(r.keep_alive);
    }
    f.status = 200;
    f.head_request = true;
    CHECK(frame_response(f).bodyless);
  }
  SECTION("draining, a client that closes, or an unread request body close the connection") {
    ResponseFacts draining = f, closing = f, unread = f;
    draining.draining = true;
    closing.client_keep_alive = false;
    unread.request_done = false;
    CHECK_FALSE(frame_response(draining).keep_alive);
    CHECK_FALSE(frame_response(closing).keep_alive);
    CHECK_FALSE(frame_response(unread).keep_alive);
  }
}

TEST_CASE("only a bodiless idempotent request reset on a pooled connection is replayed, once") {
  ReplayFacts f;
  f.pooled = true;
  f.idempotent = true;
  f.failure = Failure::upstream_reset;
  CHECK(may_replay(f));
  ReplayFacts second = f, fresh = f, body = f, post = f, timeout = f, gone = f, refused = f;
  second.attempt = 1;
  fresh.pooled = false;
  body.has_body = true;
  post.idempotent = false;
  timeout.timed_out = true;
  gone.client_gone = true;
  refused.failure = Failure::connect_failed;
  for (const ReplayFacts& no : {second, fresh, body, post, timeout, gone, refused}) {
    CHECK_FALSE(may_replay(no));
  }
  f.failure = Failure::none;
  CHECK_FALSE(may_replay(f));
}

TEST_CASE("how a failed request ends") {
  SECTION("an answer before anything was sent, keeping a connection whose request was read") {
    const FailureOutcome o = after_failure(Failure::upstream_reset, true, true, false);
    CHECK(o.write_answer);
    CHECK(o.keep_alive);
    CHECK_FALSE(o.linger);
  }
  SECTION("a request body not read to its end: answer, close gently") {
    const FailureOutcome o = after_failure(Failure::body_too_large, true, false, false);
    CHECK(o.write_answer);
    CHECK_FALSE(o.keep_alive);
    CHECK(o.linger);
  }
  SECTION("a client that left gets nothing and its connection closes") {
    const FailureOutcome o = after_failure(Failure::client, true, true, false);
    CHECK_FALSE(o.write_answer);
    CHECK_FALSE(o.keep_alive);
    CHECK_FALSE(o.linger);
  }
  SECTION("a response already under way cannot become an error: the connection closes") {
    const FailureOutcome o = after_failure(Failure::upstream_reset, true, true, true);
    CHECK_FALSE(o.write_answer);
    CHECK_FALSE(o.keep_alive);
  }
  SECTION("a shed request on a closing connection is answered and closed") {
    const FailureOutcome o = after_failure(Failure::queue_full, false, true, false);
    CHECK(o.write_answer);
    CHECK_FALSE(o.keep_alive);
    CHECK_FALSE(o.linger);
  }
}

TEST_CASE("a request head that cannot be read gets the answer its error calls for") {
  namespace http = boost::beast::http;
  CHECK(head_failure(http::error::header_limit, false) == Failure::header_too_large);
  CHECK(head_failure(http::error::body_limit, false) == Failure::body_too_large);
  CHECK(head_failure(http::error::bad_method, false) == Failure::bad_head);
  CHECK(head_failure(boost::asio::error::operation_aborted, true) == Failure::header_timeout);
  // A client that closes between requests is the normal end of keep-alive: nothing to answer.
  CHECK(head_failure(http::error::end_of_stream, false) == Failure::none);
  CHECK(head_failure(boost::asio::error::connection_reset, false) == Failure::none);

  const FailureAnswer too_large = answer_for(Failure::header_too_large, "");
  CHECK(too_large.status == 431);
  CHECK(too_large.code == "header_too_large");
  CHECK(too_large.refusal == metrics::Refusal::header_too_large);
  const FailureAnswer timeout = answer_for(Failure::header_timeout, "");
  CHECK(timeout.silent);
  CHECK(timeout.refusal == metrics::Refusal::header_timeout);
  const FailureAnswer bad = answer_for(Failure::bad_head, "bad method");
  CHECK(bad.status == 400);
  CHECK(bad.message == "malformed HTTP request: bad method");
}
