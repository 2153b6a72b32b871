// postgres_store::commit_batch tells Postgres rejecting the rows
// (errc::data_rejected, with the SQLSTATE) apart from transient failures
// (errc::postgres_error), against a real server (pg_fixture.hpp).
#include <cstdint>
#include <limits>
#include <string>

#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::postgres_store;
using agentmem::test::why;

namespace {

// 2024-05-01T10:00:00Z
constexpr int64_t t0 = 1'714'557'600'000;
const std::string group = "agentmem-test";
const std::string model = "hash-384";

activity make_event(const std::string& event_id, int64_t tokens) {
  activity a;
  a.event_id = event_id;
  a.ts_ms = t0;
  a.user_id = "u1";
  a.session_id = "s1";
  a.agent_type = "chat";
  a.event_type = "message";
  a.activity_class = "message";
  a.role = "user";
  a.content = "secret words of " + event_id;
  a.tokens_used = tokens;
  a.raw_json = R"({"event_id":")" + event_id + R"("})";
  a.source = {"agent-activities", 0, 0};
  return a;
}

batch make_batch(std::vector<activity> acts, int64_t next_offset) {
  batch b;
  b.activities = std::move(acts);
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  b.offsets = {{"agent-activities", 0, next_offset}};
  return b;
}

std::unique_ptr<postgres_store> open_migrated(const std::string& url) {
  auto store = postgres_store::connect(url);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  auto applied = (*store)->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  return std::move(*store);
}

int64_t count(postgres_store& store, const std::string& sql) {
  auto v = store.scalar(sql);
  BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
  return *v;
}

void exec(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  tx.exec(sql);
  tx.commit();
}

bool has_code(const caf::error& err, errc code) {
  return err && err.category() == errc_category
         && err.code() == static_cast<uint8_t>(code);
}

} // namespace

BOOST_AUTO_TEST_SUITE(rejection_suite)

// A real rejection the contract used to let through: usage_analytics sums
// tokens_used per user, day and agent in a bigint.
BOOST_FIXTURE_TEST_CASE(a_rollup_overflowing_bigint_is_a_data_rejection_with_sqlstate_22003,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto max = std::numeric_limits<int64_t>::max();
  auto ok = store->commit_batch(make_batch({make_event("e1", max)}, 1),
                                group, model);
  BOOST_REQUIRE_MESSAGE(ok, why(ok));
  auto res = store->commit_batch(make_batch({make_event("e2", 1)}, 2), group,
                                 model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(has_code(res.error(), errc::data_rejected), why(res));
  BOOST_TEST(storage::is_data_rejection(res.error()));
  BOOST_TEST(storage::rejected_sqlstate(res.error()) == "22003");
  // Rolled back: neither the event nor the offset moved.
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 1);
  BOOST_TEST(count(*store, "SELECT next_offset FROM kafka_offsets") == 1);
}

BOOST_FIXTURE_TEST_CASE(a_check_violation_is_a_data_rejection_without_the_row_content,
                        test::pg_database) {
  auto store = open_migrated(url);
  exec(url, "ALTER TABLE user_activities ADD CONSTRAINT test_poison"
            " CHECK (event_id NOT LIKE 'poison-%')");
  auto res = store->commit_batch(
    make_batch({make_event("ok-1", 5), make_event("poison-1", 5)}, 2), group,
    model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(storage::is_data_rejection(res.error()), why(res));
  BOOST_TEST(storage::rejected_sqlstate(res.error()) == "23514");
  auto text = why(res);
  BOOST_TEST(text.find("test_poison") != std::string::npos, text);
  // Postgres' DETAIL line quotes the failing row: it must not be kept.
  BOOST_TEST(text.find("secret words") == std::string::npos, text);
  BOOST_TEST(text.find('\n') == std::string::npos, text);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 0);
  // The store stays usable for the rows Postgres accepts.
  auto ok = store->commit_batch(make_batch({make_event("ok-1", 5)}, 2),
                                group, model);
  BOOST_TEST(static_cast<bool>(ok), why(ok));
}

BOOST_FIXTURE_TEST_CASE(a_nul_byte_is_a_data_rejection_without_sqlstate,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a = make_event("e1", 1);
  a.content = std::string{"a\0b", 3};
  auto res = store->commit_batch(make_batch({a}, 1), group, model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(storage::is_data_rejection(res.error()), why(res));
  BOOST_TEST(storage::rejected_sqlstate(res.error()).empty());
}

BOOST_FIXTURE_TEST_CASE(a_lost_connection_is_transient_and_the_next_commit_reconnects,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Kill every other session of this database: the store's connection.
  exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()");
  auto b = make_batch({make_event("e1", 1)}, 1);
  auto res = store->commit_batch(b, group, model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(has_code(res.error(), errc::postgres_error), why(res));
  BOOST_TEST(!storage::is_data_rejection(res.error()));
  auto again = store->commit_batch(b, group, model);
  BOOST_REQUIRE_MESSAGE(again, why(again));
  BOOST_TEST(again->new_activities == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
