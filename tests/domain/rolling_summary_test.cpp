#include <boost/test/unit_test.hpp>

#include "domain/extraction.hpp"
#include "domain/rolling_summary.hpp"

using namespace agentmem;
using namespace agentmem::domain;

BOOST_AUTO_TEST_SUITE(rolling_summary)

BOOST_AUTO_TEST_CASE(the_summary_id_is_stable_per_session) {
  auto a = session_summary_identity("u1", "s1");
  BOOST_CHECK_EQUAL(a.memory_id, session_summary_identity("u1", "s1").memory_id);
  BOOST_CHECK_EQUAL(a.point_id, session_summary_identity("u1", "s1").point_id);
  BOOST_CHECK_NE(a.memory_id, session_summary_identity("u1", "s2").memory_id);
  BOOST_CHECK_NE(a.memory_id, session_summary_identity("u2", "s1").memory_id);
  // No ambiguity between ("a", "bc") and ("ab", "c").
  BOOST_CHECK_NE(session_summary_identity("a", "bc").memory_id,
                 session_summary_identity("ab", "c").memory_id);
  BOOST_CHECK_LT(a.point_id, uint64_t{1} << 63);
}

BOOST_AUTO_TEST_CASE(a_refresh_is_due_every_n_new_messages) {
  rolling_summary_config cfg;
  cfg.every_messages = 3;
  BOOST_CHECK(!rolling_summary_due({}, std::nullopt, cfg));
  BOOST_CHECK(!rolling_summary_due({1, 2}, std::nullopt, cfg));
  BOOST_CHECK(rolling_summary_due({1, 2, 3}, std::nullopt, cfg));
  // The stored summary covers up to ts 3: messages 4 and 5 are new.
  BOOST_CHECK(!rolling_summary_due({1, 2, 3, 4, 5}, 3, cfg));
  BOOST_CHECK(rolling_summary_due({1, 2, 3, 4, 5, 6}, 3, cfg));
  BOOST_CHECK(!rolling_summary_due({1, 2, 3}, 3, cfg));
  cfg.every_messages = 0;
  BOOST_CHECK(!rolling_summary_due({1, 2, 3, 4, 5, 6}, std::nullopt, cfg));
}

BOOST_AUTO_TEST_CASE(a_refresh_is_due_after_t_ms_of_new_content) {
  rolling_summary_config cfg;
  cfg.every_messages = 0;
  cfg.every_ms = 1000;
  BOOST_CHECK(!rolling_summary_due({0, 500, 999}, std::nullopt, cfg));
  BOOST_CHECK(rolling_summary_due({0, 500, 1000}, std::nullopt, cfg));
  BOOST_CHECK(!rolling_summary_due({0, 1000, 1500}, 1000, cfg));
  BOOST_CHECK(rolling_summary_due({0, 1000, 2000}, 1000, cfg));
  // Nothing new: never due, however old.
  BOOST_CHECK(!rolling_summary_due({0, 1000}, 5000, cfg));
}

BOOST_AUTO_TEST_CASE(the_rolling_and_the_final_summary_are_the_same_memory) {
  std::vector<utterance> us{{"Ann", "I adopted a puppy named Biscuit."},
                            {"Bob", "Biscuit is a lovely name for a puppy."}};
  std::vector<memory> out;
  BOOST_REQUIRE(make_rolling_summary("u1", "s1", us, 500, "ev-2", 5, 800, out));
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  auto r = out[0]; // a copy: out grows below
  BOOST_CHECK_EQUAL(r.memory_type, "session_summary");
  BOOST_CHECK_EQUAL(r.ts_ms, 500);
  BOOST_CHECK_EQUAL(r.event_id, "ev-2");
  BOOST_CHECK(r.text.find("Session summary (2 messages): ") == 0);
  BOOST_CHECK(r.text.find("Biscuit") != std::string::npos);
  activity end;
  end.event_id = "ev-end";
  end.user_id = "u1";
  end.session_id = "s1";
  end.ts_ms = 900;
  end.activity_class = "session_end";
  BOOST_REQUIRE(make_session_summary(end, us, {}, out));
  BOOST_CHECK_EQUAL(out[1].memory_id, r.memory_id);
  BOOST_CHECK_EQUAL(out[1].point_id, r.point_id);
  BOOST_CHECK_EQUAL(out[1].text, r.text);
  BOOST_CHECK(!make_rolling_summary("u1", "s1", {}, 1, "e", 5, 800, out));
}

BOOST_AUTO_TEST_SUITE_END()
