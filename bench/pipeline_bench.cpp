// pipeline_bench: throughput of agentmem's pipeline against the standalone
// rates of the components it is built from, on the same synthetic events,
// in one process (docs/performance.md has the results and how to read them).
//
//   pipeline_bench [--events 200000] [--partitions 256] [--data-dir DIR]
//
// Everything is real: librdkafka's mock cluster (in-process brokers), a
// private PostgreSQL cluster (storage::pg_cluster, child processes), the
// real pipeline::topology with its own caf::actor_system.
//
// Phases:
//   1. generate N events with kafka::generate_events (the simulator's mix),
//      decode them, derive their memories (as the extraction actor does,
//      with an in-memory conversation buffer) and embed them;
//   2. standalone rates on the same data: (a) kafka::consumer in a fresh
//      group reading the pre-produced topic, (b) COPY (storage::detail::copy_writer) of
//      the activity rows, (c) storage::vector_index::upsert (hnswlib,
//      M=16, ef_construction=100) of the memories;
//   3. the pipeline, scenario "backlog": drain the pre-produced topic
//      (fresh group, database and data dir); scenario "steady": a producer
//      thread publishes at a fixed fraction of the backlog rate while the
//      pipeline consumes; latency = Postgres ingested_at - produce time;
//   3c. with --find-sustainable: steady runs at stepped fractions of the
//      backlog rate (sustainable = p99 produce -> row <= 1 s, lag bounded),
//      with produce -> searchable sampled in the node's vector index;
//   4. a table (plain text and Markdown) on stdout: rates, CPU per event of
//      every component and of the pipeline (this process + the PostgreSQL
//      server, from /proc; per stage from agentmem_stage_cpu_seconds_total),
//      PostgreSQL's statements (pg_stat_statements), RSS per 1M memories.
//
// --broker real runs against an Apache Kafka broker (scripts/kafka-broker.sh)
// instead of the in-process mock cluster; --max-cpu-ratio-file makes the
// run fail (exit 3) when its CPU ratio is worse than twice the recorded one
// (CI's smoke run, bench/CMakeLists.txt).
//
// The mock broker keeps only the newest ~5 MiB per partition and drops
// older records silently: events are keyed by user (many users, many
// partitions), and every phase checks its count against the number produced.

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "domain/contract.hpp"
#include "domain/embedding.hpp"
#include "domain/extraction.hpp"
#include "kafka/admin.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "kafka/simulator.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"
#include "metrics/registry.hpp"
#include "pipeline/actor_system.hpp"
#include "pipeline/allocator.hpp"
#include "pipeline/config.hpp"
#include "pipeline/topology.hpp"
#include "storage/copy_writer.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_cluster.hpp"
#include "storage/pg_connection.hpp"
#include "storage/postgres_store.hpp"
#include "storage/shard_set.hpp"
#include "storage/simd_kernels.hpp"
#include "storage/vector_index.hpp"

namespace fs = std::filesystem;
using namespace agentmem;
using clk = std::chrono::steady_clock;

namespace {

// --- small helpers -----------------------------------------------------------

struct bench_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void die(const std::string& what) {
  throw bench_failure(what);
}

template <class T>
T must(caf::expected<T> x, const std::string& what) {
  if (!x)
    die(what + ": " + describe(x.error()));
  return std::move(*x);
}

void must(const caf::error& err, const std::string& what) {
  if (err)
    die(what + ": " + describe(err));
}

double seconds(clk::time_point a, clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

int64_t wall_ms() {
  return wall_us() / 1000;
}

void log(const std::string& msg) {
  std::cerr << "[bench] " << msg << std::endl;
}

// 1234567.8 -> "1,234,568"
std::string grouped(double v) {
  bool neg = v < 0;
  auto n = static_cast<int64_t>(std::llround(std::fabs(v)));
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return neg ? "-" + out : out;
}

std::string fixed(double v, int prec) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}

// "YYYY-MM-DD HH:MM:SS.mmm+00" (Postgres timestamptz input) from ms.
std::string pg_timestamp(int64_t ms) {
  std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03d+00",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// --- memory and CPU accounting -------------------------------------------------

// A field of /proc/self/status in kB (VmRSS, VmHWM), -1 when missing.
long status_kb(const std::string& field) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0: clear_refs value 5).
bool reset_peak_rss() {
  std::ofstream f{"/proc/self/clear_refs"};
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

double mib(long kb) {
  return static_cast<double>(kb) / 1024.0;
}

// Returns memory freed by the benchmark's own data structures to the OS, so
// that the next phase's RSS baseline is not inflated by free heap pages.
void trim_heap() {
  pipeline::release_free_memory();
}

struct proc_stat {
  std::string comm;
  int ppid = 0;
  double cpu_s = 0;       // utime + stime
  double child_cpu_s = 0; // cutime + cstime (reaped children)
  double minflt = 0;      // minor page faults
  double child_minflt = 0; // cminflt (reaped children)
};

std::optional<proc_stat> read_stat(const std::string& path) {
  std::ifstream in{path};
  std::string s;
  if (!std::getline(in, s))
    return std::nullopt;
  auto open = s.find('(');
  auto close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos)
    return std::nullopt;
  proc_stat out;
  out.comm = s.substr(open + 1, close - open - 1);
  std::istringstream rest{s.substr(close + 2)};
  std::vector<std::string> tok;
  std::string t;
  while (rest >> t)
    tok.push_back(t);
  if (tok.size() < 15)
    return std::nullopt;
  static const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  // tok[0] = field 3 (state): ppid = field 4, minflt = field 10, cminflt =
  // field 11, utime..cstime = fields 14..17.
  out.ppid = std::stoi(tok[1]);
  out.minflt = std::stod(tok[7]);
  out.child_minflt = std::stod(tok[8]);
  out.cpu_s = (std::stod(tok[11]) + std::stod(tok[12])) / hz;
  out.child_cpu_s = (std::stod(tok[13]) + std::stod(tok[14])) / hz;
  return out;
}

// CPU seconds per live thread of this process: tid -> (name, seconds).
std::map<int, std::pair<std::string, double>> thread_cpu() {
  std::map<int, std::pair<std::string, double>> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc/self/task", ec)) {
    auto st = read_stat(e.path().string() + "/stat");
    if (st)
      out[std::stoi(e.path().filename().string())] = {st->comm, st->cpu_s};
  }
  return out;
}

// CPU seconds per thread name between two thread_cpu() snapshots (threads
// that ended in between are missing; new threads count in full).
std::map<std::string, double>
thread_cpu_delta(const std::map<int, std::pair<std::string, double>>& before,
                 const std::map<int, std::pair<std::string, double>>& after) {
  std::map<std::string, double> out;
  for (auto& [tid, v] : after) {
    double d = v.second;
    auto it = before.find(tid);
    if (it != before.end())
      d -= it->second.second;
    out[v.first] += d;
  }
  return out;
}

// CPU seconds and minor page faults of the whole PostgreSQL server: the
// postmaster, its live children (backends and auxiliary processes call
// setsid(), so they are found by parent, not by process group), and the
// children it has reaped. cpu_s is -1 when the server is not found.
struct server_usage {
  double cpu_s = -1;
  double minflt = 0;
};

server_usage postgres_usage(const std::string& pg_dir) {
  std::ifstream pidf{pg_dir + "/postmaster.pid"};
  int pm = 0;
  if (!(pidf >> pm) || pm <= 0)
    return {};
  DIR* d = ::opendir("/proc");
  if (!d)
    return {};
  server_usage total{0, 0};
  while (auto* ent = ::readdir(d)) {
    if (ent->d_name[0] < '0' || ent->d_name[0] > '9')
      continue;
    auto st = read_stat(std::string{"/proc/"} + ent->d_name + "/stat");
    if (!st)
      continue;
    bool is_pm = std::atoi(ent->d_name) == pm;
    if (!is_pm && st->ppid != pm)
      continue;
    total.cpu_s += st->cpu_s;
    total.minflt += st->minflt;
    if (is_pm) {
      total.cpu_s += st->child_cpu_s;
      total.minflt += st->child_minflt;
    }
  }
  ::closedir(d);
  return total;
}

double postgres_cpu(const std::string& pg_dir) {
  return postgres_usage(pg_dir).cpu_s;
}

// CPU seconds all processes of the machine spent in user and system mode
// (/proc/stat user + nice + system; interrupts, softirqs such as loopback
// networking, and hypervisor steal are not included). Minus the bench
// process and the Postgres server, this is what unrelated processes used.
double machine_busy_cpu() {
  std::ifstream in{"/proc/stat"};
  std::string cpu;
  double user = 0, nice = 0, sys = 0;
  in >> cpu >> user >> nice >> sys;
  static const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (user + nice + sys) / hz;
}

std::string loadavg() {
  std::ifstream in{"/proc/loadavg"};
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return fixed(a, 2) + " " + fixed(b, 2) + " " + fixed(c, 2);
}

double process_cpu(int who = RUSAGE_SELF) {
  rusage ru{};
  ::getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Minor page faults of this process so far: each is a first touch of a
// page (anonymous memory or a mapped file page). On the 2-core VMs of
// docs/performance.md a page the host has taken back costs ≈ 10-45 µs to
// touch again (thirteenth round), so faults per event explain CPU that no
// function of the pipeline shows.
double process_minflt() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_minflt);
}

// --- metrics ---------------------------------------------------------------------

const std::vector<std::string> stage_names = {
  "capture", "extraction", "embedding", "aggregation", "writer",
  "vector_linking"};

metrics::histogram& stage_hist(const std::string& stage) {
  return metrics::global().get_histogram(
    "agentmem_stage_duration_seconds",
    "Time a pipeline stage spent on one batch.", metrics::latency_buckets(),
    {{"stage", stage}});
}

metrics::histogram& commit_hist() {
  return metrics::global().get_histogram(
    "agentmem_postgres_commit_duration_seconds",
    "Duration of one batch transaction in Postgres.",
    metrics::latency_buckets());
}

metrics::histogram& e2e_hist() {
  return metrics::global().get_histogram(
    "agentmem_event_end_to_end_seconds",
    "Time from the oldest record's Kafka timestamp to its batch commit.",
    metrics::latency_buckets());
}

metrics::histogram& batch_latency_hist() {
  return metrics::global().get_histogram(
    "agentmem_batch_duration_seconds",
    "Time from closing a batch in ingress to its acknowledgement.",
    metrics::latency_buckets());
}

metrics::histogram& batch_size_hist() {
  return metrics::global().get_histogram("agentmem_batch_size_records",
                                         "Records per pipeline batch.",
                                         metrics::size_buckets());
}

metrics::counter& stage_cpu_counter(const std::string& stage) {
  return metrics::global().get_counter(
    "agentmem_stage_cpu_seconds_total",
    "CPU time a pipeline stage spent on its batches (its thread and helper "
    "threads).",
    {{"stage", stage}});
}

metrics::counter& consumed_counter() {
  return metrics::global().get_counter("agentmem_events_consumed_total",
                                       "Records consumed from Kafka.");
}

using hsnap = metrics::histogram::snapshot;

hsnap hdelta(const hsnap& before, const hsnap& after) {
  hsnap d = after;
  for (size_t i = 0; i < d.counts.size() && i < before.counts.size(); ++i)
    d.counts[i] -= before.counts[i];
  d.sum -= before.sum;
  d.count -= before.count;
  return d;
}

// Prometheus-style histogram_quantile: linear interpolation in the bucket.
double hquantile(const hsnap& h, double q) {
  if (h.count == 0)
    return NAN;
  double rank = q * static_cast<double>(h.count);
  double cum = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    double c = static_cast<double>(h.counts[i]);
    if (cum + c >= rank && c > 0) {
      double lo = i == 0 ? 0 : h.bounds[i - 1];
      if (i >= h.bounds.size())
        return h.bounds.empty() ? NAN : h.bounds.back(); // +Inf bucket
      double hi = h.bounds[i];
      return lo + (hi - lo) * (rank - cum) / c;
    }
    cum += c;
  }
  return h.bounds.empty() ? NAN : h.bounds.back();
}

struct metrics_snapshot {
  std::map<std::string, hsnap> stages;
  std::map<std::string, double> stage_cpu; // seconds
  hsnap commit, e2e, batch_latency, batch_size;

  static metrics_snapshot take() {
    metrics_snapshot s;
    for (auto& n : stage_names) {
      s.stages[n] = stage_hist(n).snap();
      s.stage_cpu[n] = stage_cpu_counter(n).value();
    }
    s.commit = commit_hist().snap();
    s.e2e = e2e_hist().snap();
    s.batch_latency = batch_latency_hist().snap();
    s.batch_size = batch_size_hist().snap();
    return s;
  }

  metrics_snapshot since(const metrics_snapshot& before) const {
    metrics_snapshot d;
    for (auto& [n, h] : stages)
      d.stages[n] = hdelta(before.stages.at(n), h);
    for (auto& [n, c] : stage_cpu)
      d.stage_cpu[n] = c - before.stage_cpu.at(n);
    d.commit = hdelta(before.commit, commit);
    d.e2e = hdelta(before.e2e, e2e);
    d.batch_latency = hdelta(before.batch_latency, batch_latency);
    d.batch_size = hdelta(before.batch_size, batch_size);
    return d;
  }
};

// --- results -------------------------------------------------------------------

struct rate_row {
  std::string component;
  std::string measured; // what one unit is
  double units = 0;
  double seconds = 0;
  double events_per_s = 0; // pipeline-event equivalent
  std::string note;
  bool standalone_core = false; // one of (a) (b) (c): counts for the ratio
  // CPU seconds (this process + the PostgreSQL server) while it ran; < 0
  // when not measured. `in_cpu_sum`: part of the components' CPU per event
  // that the pipeline's CPU per event is compared with.
  double cpu_s = -1;
  bool in_cpu_sum = false;
  double cpu_us_per_event(size_t events) const {
    return cpu_s < 0 ? NAN : cpu_s * 1e6 / std::max<size_t>(1, events);
  }
  double unit_rate() const {
    return seconds > 0 ? units / seconds : 0;
  }
};

rate_row row_of(const std::string& component, const std::string& measured) {
  rate_row r;
  r.component = component;
  r.measured = measured;
  return r;
}

// One point of a scenario's timeline (sampled every ~1 s).
struct timeline_point {
  clk::time_point t;
  int64_t rows = 0;       // user_activities rows (timed events only)
  int64_t produced = -1;  // steady: timed events published so far
  double others_cpu = 0;  // machine busy CPU minus bench and Postgres
  double machine_cpu = 0; // machine busy CPU (all processes), seconds
  double broker_cpu = 0;  // the embedded broker's rdk:mock thread, seconds
};

// Cores used, by sixth of [begin, end]: the CPU seconds of `cpu` between
// consecutive timeline points, each interval counted in the sixth holding
// its midpoint, over the intervals' length. Empty when no point falls in
// the window.
std::vector<double> cores_by_sixth(const std::vector<timeline_point>& tl,
                                   clk::time_point begin, clk::time_point end,
                                   double timeline_point::*cpu) {
  constexpr size_t parts = 6;
  const double span = seconds(begin, end);
  std::vector<double> used(parts, 0), length(parts, 0);
  bool any = false;
  for (size_t i = 1; i < tl.size() && span > 0; ++i) {
    auto& a = tl[i - 1];
    auto& z = tl[i];
    if (a.t < begin || z.t > end)
      continue;
    double mid = (seconds(begin, a.t) + seconds(begin, z.t)) / 2;
    auto k = std::min(parts - 1, static_cast<size_t>(mid / span * parts));
    used[k] += z.*cpu - a.*cpu;
    length[k] += seconds(a.t, z.t);
    any = true;
  }
  if (!any)
    return {};
  for (size_t k = 0; k < parts; ++k)
    used[k] = length[k] > 0 ? used[k] / length[k] : NAN;
  return used;
}

// A by-sixth series as " a / b / ...", each value through `format`.
template <class Format>
std::string sixths_list(const std::vector<double>& values, Format format) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i)
    out += std::string{i ? " / " : " "} + format(values[i]);
  return out;
}

// A cores_by_sixth() value, "n/a" for a sixth no timeline interval fell in.
std::string cores_or_na(double cores) {
  return std::isnan(cores) ? "n/a" : fixed(cores, 2);
}

// One statement's line of pg_stat_statements.
struct pg_statement {
  int64_t calls = 0;
  double total_ms = 0; // execution time (pg_stat_statements.total_exec_time)
  int64_t rows = 0;
  std::string query;   // normalised, whitespace collapsed
};

struct scenario_result {
  std::string name;
  bool ok = false;
  std::string error;
  size_t events = 0;
  double startup_s = 0;     // topology::start()
  double join_s = 0;        // start() returned -> first record consumed
  double run_s = 0;         // first consume (or first produce) -> all in PG
  double events_per_s = 0;
  double acked_s = 0;       // same start -> every batch acknowledged
  double at_limit_fraction = NAN; // of the samples, max_in_flight reached
  double paused_fraction = NAN;   // of the samples, partitions paused
  double mean_in_flight = NAN;
  size_t snapshot_count = 0;    // index snapshots written during the run
  double snapshot_total_s = 0, snapshot_max_s = 0;
  double acked_events_per_s = 0;
  double total_with_startup_s = 0;
  double produce_rate = 0;  // steady: achieved publishing rate
  double target_rate = 0;   // steady: requested rate
  double tail_s = 0;        // steady: last produce -> all in PG
  double lat_p50_ms = NAN, lat_p90_ms = NAN, lat_p99_ms = NAN,
         lat_max_ms = NAN;
  // steady: p99 produce -> row of the events published in each sixth of
  // the feed (by produce time): whether a p99 comes from the start (group
  // join, shard warm-up, cold caches) or from the whole window.
  std::vector<double> lat_p99_by_sixth_ms;
  double hist_p50_s = NAN, hist_p99_s = NAN;
  long rss_base_kb = 0, rss_peak_kb = 0;
  long rss_after_kb = 0; // after the node stopped and the heap was trimmed
  // Where the peak goes: RSS when the first record was consumed (the node
  // up, its shards open and empty), at the end of the run (the node idle,
  // before stop) and right after the allocator released its free pages
  // there (trim_heap); the allocator's heap figures then.
  long rss_first_kb = -1, rss_end_kb = 0, rss_end_trimmed_kb = 0;
  pipeline::heap_stats heap; // before the release, node idle
  size_t shards_open = 0;
  pipeline::topology::memory_usage parts; // at the end of the run
  int64_t pg_activities = 0, pg_memories = 0, index_points = 0;
  double stop_s = 0;
  double cpu_process_s = 0, cpu_postgres_s = 0;
  double cpu_others_s = 0; // other processes on the machine (noise)
  double minflt_process = 0, minflt_postgres = 0; // minor page faults
  std::vector<timeline_point> timeline;
  // produce -> searchable (the event's conversation memory is in this
  // node's vector index), sampled events; ms, sorted.
  std::vector<double> searchable_ms;
  size_t searchable_missing = 0; // sampled but never seen in the index
  int64_t max_lag = 0;           // steady: published - stored, sampled
  std::vector<pg_statement> statements;
  double statements_total_ms = 0;
  clk::time_point t_begin{};
  // steady: CPU of the whole machine and of the embedded broker's thread
  // in each sixth of the window (timeline points grouped by time), cores.
  std::vector<double> machine_cores_by_sixth;
  std::vector<double> broker_cores_by_sixth;
  std::map<std::string, double> cpu_by_thread;
  double feed_producer_cpu_s = 0; // feed_times::producer_cpu_s
  metrics_snapshot m;
};

// --- phase 1: data -----------------------------------------------------------------

struct dataset {
  std::vector<std::pair<std::string, std::string>> events; // key, value
  std::vector<std::string> event_ids;
  size_t bytes = 0;
  std::map<std::string, size_t> by_type;
  size_t memories = 0;
  std::map<std::string, size_t> memories_by_type;
};

// Derives the memories of `acts` exactly like actors/extraction.cpp, with
// an in-memory conversation buffer (last `buffer` messages per session)
// instead of RocksDB.
std::vector<memory> derive_memories(const std::vector<activity>& acts,
                                    size_t buffer) {
  domain::extraction_config rules;
  std::map<std::pair<std::string, std::string>, std::deque<domain::utterance>>
    convo;
  std::vector<memory> out;
  for (auto& a : acts) {
    if (a.activity_class == "message") {
      auto& q = convo[{a.user_id, a.session_id}];
      q.push_back({a.agent_name.empty() ? a.role : a.agent_name, a.content});
      if (q.size() > buffer)
        q.pop_front();
    }
  }
  // Second pass: summaries need the buffer as of the session's end; the
  // simulator ends a session after its last message, so the final buffer
  // content is what the extraction actor sees.
  for (auto& a : acts) {
    if (a.activity_class == "session_end") {
      auto it = convo.find({a.user_id, a.session_id});
      std::vector<domain::utterance> us;
      if (it != convo.end())
        us.assign(it->second.begin(), it->second.end());
      domain::make_session_summary(a, us, rules, out);
    } else {
      domain::extract_memories(a, rules, out);
    }
  }
  return out;
}

// --- phase 2a: produce and consume ---------------------------------------------------

struct produce_result {
  size_t delivered = 0;
  double seconds = 0;
};

// The pre-produced topic's message sets hold backlog_msgset_records
// records, whatever the machine's speed while producing: the embedded
// broker returns one message set per partition per fetch, so their size
// decides how many partitions (and users) a batch interleaves. Sized by
// linger.ms = 5 alone they followed that speed: in a process whose
// production ran at 258,000 records/s instead of ≈ 1M, the backlog's
// per-key upserts wrote 3x the rows (each batch held far more users) and
// it ran at 47 % of the reference instead of ≈ 70 % (docs/performance.md,
// twenty-first round). With 250 a run writes the rows the normal runs
// did. A real broker returns up to max.partition.fetch.bytes of a
// partition per fetch, whatever the sets' size.
constexpr int backlog_msgset_records = 250;

produce_result produce_all(const std::string& brokers, const std::string& topic,
                           const dataset& d) {
  // Full sets only: a set is sent when it holds backlog_msgset_records
  // records (or at the flush), never on linger.
  auto prod = must(
    kafka::producer::create(
      brokers, {{"linger.ms", "60000"},
                {"batch.num.messages", std::to_string(backlog_msgset_records)},
                {"queue.buffering.max.messages", "10000000"},
                {"queue.buffering.max.kbytes", "2097151"}}),
    "producer");
  auto t0 = clk::now();
  for (auto& [k, v] : d.events)
    must(prod->produce(topic, k, v), "produce");
  must(prod->flush(std::chrono::seconds(120)), "producer flush");
  produce_result r;
  r.seconds = seconds(t0, clk::now());
  r.delivered = prod->delivered_total();
  return r;
}

struct consume_result {
  size_t records = 0;
  double join_s = 0;  // create -> first record
  double read_s = 0;  // first record -> last record
  size_t partitions_seen = 0;
  int64_t max_first_offset = -1; // > 0 means the broker dropped the head
};

consume_result consume_all(const std::string& brokers, const std::string& topic,
                           const std::string& group, size_t expected,
                           std::chrono::seconds max_time = std::chrono::hours(1)) {
  kafka::consumer_config cc;
  cc.brokers = brokers;
  cc.group_id = group;
  cc.topics = {topic};
  auto c = must(kafka::consumer::create(cc), "bare consumer");
  consume_result r;
  std::map<int32_t, int64_t> first_offset;
  auto t0 = clk::now();
  clk::time_point first{}, last{}, last_progress = t0;
  while (r.records < expected) {
    auto recs = c->poll_batch(10000, std::chrono::milliseconds(200));
    auto now = clk::now();
    if (now - t0 > max_time)
      break;
    if (recs.empty()) {
      if (now - last_progress > std::chrono::seconds(20))
        break; // nothing more is coming: records were lost
      continue;
    }
    if (r.records == 0)
      first = now;
    for (auto& rec : recs)
      first_offset.try_emplace(rec.source.partition, rec.source.offset);
    r.records += recs.size();
    last = now;
    last_progress = now;
  }
  c->close();
  r.join_s = r.records > 0 ? seconds(t0, first) : 0;
  r.read_s = r.records > 0 ? seconds(first, last) : 0;
  r.partitions_seen = first_offset.size();
  for (auto& [p, o] : first_offset)
    r.max_first_offset = std::max(r.max_first_offset, o);
  return r;
}

// --- phase 2b: COPY ------------------------------------------------------------------

// COPY of the activity rows into a fresh table: one transaction for all
// rows when `rows_per_txn` is 0, else one transaction per that many rows.
double copy_rows(const std::string& url, const std::vector<activity>& acts,
                 size_t rows_per_txn, const std::string& table) {
  pqxx::connection conn{url};
  {
    pqxx::work w{conn};
    w.exec("DROP TABLE IF EXISTS " + table);
    w.exec("CREATE TABLE " + table
           + " (event_id text PRIMARY KEY, ts timestamptz NOT NULL, "
             "user_id text NOT NULL, session_id text NOT NULL, "
             "agent_type text NOT NULL, event_type text NOT NULL, "
             "content text, raw jsonb NOT NULL)");
    w.commit();
  }
  const std::vector<std::string> cols = {"event_id",   "ts",
                                         "user_id",    "session_id",
                                         "agent_type", "event_type",
                                         "content",    "raw"};
  size_t per = rows_per_txn == 0 ? acts.size() : rows_per_txn;
  auto t0 = clk::now();
  for (size_t i = 0; i < acts.size(); i += per) {
    pqxx::work w{conn};
    storage::detail::copy_writer s{w, table, cols};
    for (size_t j = i; j < std::min(acts.size(), i + per); ++j) {
      auto& a = acts[j];
      // The timestamp is formatted per row, as a writer would have to.
      s.row(a.event_id, pg_timestamp(a.ts_ms), a.user_id, a.session_id,
            a.agent_type, a.event_type,
            a.content.empty() ? nullptr : a.content.c_str(), a.raw_json);
    }
    s.complete();
    w.commit();
  }
  double secs = seconds(t0, clk::now());
  pqxx::work w{conn};
  auto n = w.exec1("SELECT count(*) FROM " + table)[0].as<int64_t>();
  if (static_cast<size_t>(n) != acts.size())
    die("COPY wrote " + std::to_string(n) + " rows, expected "
        + std::to_string(acts.size()));
  w.exec("DROP TABLE " + table);
  w.commit();
  return secs;
}

// --- PostgreSQL statement profile (pg_stat_statements) ---------------------------------

// Makes the server load pg_stat_statements (a restart: it must be in
// shared_preload_libraries). Returns false when the module is missing.
bool enable_pg_stat_statements(const std::string& admin_url) {
  try {
    pqxx::connection c{admin_url};
    pqxx::nontransaction tx{c};
    tx.exec("ALTER SYSTEM SET shared_preload_libraries = "
            "'pg_stat_statements'");
    return true;
  } catch (const std::exception& e) {
    log(std::string{"pg_stat_statements not enabled: "} + e.what());
    return false;
  }
}

void reset_statements(const std::string& url) {
  try {
    pqxx::connection c{url};
    pqxx::nontransaction tx{c};
    tx.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    tx.exec("SELECT pg_stat_statements_reset()");
  } catch (const std::exception& e) {
    log(std::string{"pg_stat_statements: "} + e.what());
  }
}

// Statements of the current database, most execution time first. Entries
// with the same normalised text are summed (a statement on a table that
// was dropped and created again, or with a VALUES list of another length,
// gets another query id).
std::vector<pg_statement> read_statements(const std::string& url) {
  std::vector<pg_statement> out;
  try {
    pqxx::connection c{url};
    pqxx::nontransaction tx{c};
    auto r = tx.exec(
      "SELECT sum(calls)::bigint, sum(total_exec_time), sum(rows)::bigint, q"
      " FROM (SELECT calls, total_exec_time, rows,"
      " regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'),"
      " '\\(\\$[0-9]+(, \\$[0-9]+)*\\)(, \\(\\$[0-9]+(, \\$[0-9]+)*\\))*',"
      " '(...)', 'g') AS q"
      " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
      " WHERE datname = current_database())) s GROUP BY q"
      " ORDER BY 2 DESC");
    for (const auto& row : r)
      out.push_back({row[0].as<int64_t>(), row[1].as<double>(),
                     row[2].as<int64_t>(), row[3].as<std::string>()});
  } catch (const std::exception& e) {
    log(std::string{"pg_stat_statements: "} + e.what());
  }
  return out;
}

// COPY of the memory rows (text, ids, the vector as bytea; in binary
// format, as the writer sends them) into a fresh table with a primary key,
// one transaction per `rows_per_txn` rows.
double copy_memories(const std::string& url, const std::vector<memory>& ms,
                     size_t rows_per_txn) {
  storage::detail::pg_connection conn{url};
  {
    pqxx::work w{conn};
    w.exec("DROP TABLE IF EXISTS copy_memories");
    w.exec("CREATE TABLE copy_memories (memory_id text PRIMARY KEY,"
           " point_id bigint NOT NULL, user_id text NOT NULL,"
           " session_id text NOT NULL, ts timestamptz NOT NULL,"
           " text text NOT NULL, embedding bytea)"
           // As the memories table (migration 030): rows stay inline.
           " WITH (toast_tuple_target = 8160)");
    w.commit();
  }
  const std::vector<std::string> cols = {"memory_id",  "point_id", "user_id",
                                         "session_id", "ts",       "text",
                                         "embedding"};
  auto t0 = clk::now();
  for (size_t i = 0; i < ms.size(); i += rows_per_txn) {
    pqxx::work w{conn};
    storage::detail::binary_copy_writer s{w, conn, "copy_memories", cols};
    for (size_t j = i; j < std::min(ms.size(), i + rows_per_txn); ++j) {
      auto& m = ms[j];
      s.row(m.memory_id, static_cast<int64_t>(m.point_id), m.user_id,
            m.session_id, storage::detail::timestamptz_ms{m.ts_ms}, m.text,
            storage::detail::bytea_floats{m.vector});
    }
    s.complete();
    w.commit();
  }
  double secs = seconds(t0, clk::now());
  pqxx::work w{conn};
  w.exec("DROP TABLE copy_memories");
  w.commit();
  return secs;
}

// --- a real Kafka broker (--broker real) -------------------------------------------------

std::string broker_script() {
  return std::string{AGENTMEM_SOURCE_DIR} + "/scripts/kafka-broker.sh";
}

// Runs a command, returns its stdout; dies when it fails.
std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    die("cannot run " + cmd);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int status = ::pclose(p);
  if (status != 0)
    die(cmd + " failed (status " + std::to_string(status) + ")");
  return out;
}

// Starts a single-node Apache Kafka broker (scripts/kafka-broker.sh) in
// `dir` with `topics`; returns its bootstrap address.
std::string start_real_broker(const std::string& dir,
                              const std::vector<kafka::topic_spec>& topics) {
  auto t0 = clk::now();
  auto out = run_command(broker_script() + " start --dir '" + dir + "'");
  auto bootstrap = out.substr(0, out.find_first_of("\r\n"));
  must(kafka::create_topics(bootstrap, topics, {}, std::chrono::seconds(60)),
       "create topics");
  log("kafka broker " + bootstrap + " up with " + std::to_string(topics.size())
      + " topics in " + fixed(seconds(t0, clk::now()), 1) + " s");
  return bootstrap;
}

void stop_real_broker(const std::string& dir) {
  std::string cmd =
    broker_script() + " stop --dir '" + dir + "' --clean >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    log("kafka broker stop failed: " + cmd);
}

// --- phase 3: the pipeline -------------------------------------------------------------

struct bench_env {
  std::string root;
  std::string brokers;
  std::string admin_url; // secret: never printed
  std::string pg_dir;
  int partitions = 256;
  // Node tunables; defaults as `agentmem dev`.
  // The node's default (pipeline_config, deploy/agentmem.toml); `agentmem
  // dev` uses 5000. A snapshot rewrites the whole index (~1.5 s of CPU at
  // 100,000 points), so at 5 s it costs a large share of the CPU budget.
  int snapshot_interval_ms = 30000;
  int max_batch_wait_ms = 50;
  size_t max_in_flight = 4;
  size_t max_batch_records = 2000;
  // `[analytics] enabled` (issue #10's A/B: the pipeline with and without
  // the event-time rollups).
  bool analytics = true;
  // librdkafka properties of the node's consumer: on the mock cluster its
  // fetch wait, as `agentmem dev` sets it (kafka/mock_cluster.hpp).
  std::map<std::string, std::string> kafka_properties;
};

pipeline::pipeline_config node_config(const bench_env& env,
                                      const std::string& name,
                                      const std::string& topic,
                                      const std::string& url) {
  // As `agentmem dev` (pipeline/main.cpp cmd_dev) configures its node.
  pipeline::pipeline_config cfg;
  cfg.brokers = env.brokers;
  cfg.topic = topic;
  cfg.dlq_topic = "bench.dlq";
  cfg.group_id = "bench-" + name;
  cfg.postgres_url = url;
  cfg.data_dir = (fs::path{env.root} / ("node-" + name)).string();
  cfg.http_host = "127.0.0.1";
  cfg.http_port = 0;
  // The bench never calls the HTTP API; it listens on loopback only.
  cfg.auth_disabled = true;
  cfg.snapshot_interval = std::chrono::milliseconds{env.snapshot_interval_ms};
  cfg.max_in_flight = env.max_in_flight;
  cfg.max_batch_wait = std::chrono::milliseconds{env.max_batch_wait_ms};
  cfg.max_batch_records = env.max_batch_records;
  cfg.analytics_enabled = env.analytics;
  cfg.kafka_properties = env.kafka_properties;
  return cfg;
}

// The database of scenario `name` (run_scenario recreates it; the next
// scenario drops it).
std::string scenario_database(const std::string& name) {
  return "bench_" + name;
}

// Runs one scenario. `feed` (may be empty) runs on its own thread once the
// node has started (and, when `warmup` > 0, after that many warm-up events
// went through); it publishes and returns (first produce, last produce).
struct feed_times {
  clk::time_point first{}, last{};
  size_t produced = 0;
  // CPU seconds of the feed producer's own threads (librdkafka's rdk:*
  // threads that appeared while the feed ran), up to its flush: part of
  // this process's CPU, not the node's.
  double producer_cpu_s = 0;
};

// The CPU seconds of the rdk:* threads in `now` that are not in `before`:
// a librdkafka client created in between (its broker threads start when
// its first metadata arrives, so `now` must be taken at its end). The
// node's clients are created, and connected, before a feed starts.
double new_rdkafka_threads_cpu(
  const std::map<int, std::pair<std::string, double>>& before,
  const std::map<int, std::pair<std::string, double>>& now) {
  double out = 0;
  for (auto& [tid, v] : now)
    if (before.count(tid) == 0 && v.first.rfind("rdk:", 0) == 0)
      out += v.second;
  return out;
}


// Sampled events of a feed whose conversation memory the bench watches for
// in the node's vector index: produce -> searchable.
// The partition the steady feeds publish a key to (FNV-1a of the key), so
// the searchable probe knows which shard to look in. The backlog topic uses
// the producer's partitioner; both spread users evenly.
int32_t steady_partition(const std::string& key, int partitions) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key)
    h = (h ^ c) * 1099511628211ull;
  return static_cast<int32_t>(h % static_cast<uint64_t>(partitions));
}

struct searchable_probe {
  struct sample {
    size_t index;      // in the feed
    uint64_t point_id; // its conversation memory
    int32_t partition; // where the feed publishes it (steady_partition)
  };
  std::vector<sample> events;
  const std::vector<int64_t>* produced_us = nullptr; // wall µs, by index
};

scenario_result run_scenario(
  const bench_env& env, const std::string& name, const std::string& topic,
  size_t expected_total,
  const std::function<void()>& warmup_feed, size_t warmup_events,
  const std::function<feed_times()>& feed,
  const std::atomic<size_t>* produced = nullptr,
  const searchable_probe* probe = nullptr) {
  scenario_result r;
  r.name = name;
  r.events = expected_total - warmup_events;
  trim_heap();
  auto url = must(storage::pg_cluster::recreate_database(
                    env.admin_url, scenario_database(name)),
                  "create database " + scenario_database(name));
  auto cfg = node_config(env, name, topic, url);
  std::error_code ec;
  fs::remove_all(cfg.data_dir, ec);
  auto probe_db = must(storage::postgres_store::connect(url),
                       "probe connection");
  auto exact_count = [&]() -> int64_t {
    auto n = probe_db->scalar("SELECT count(*) FROM user_activities");
    return n ? *n : -1;
  };
  // Progress, polled every 100 ms: the highest activity_id (an index
  // lookup; ids are consecutive unless a transaction rolled back), the
  // exact count(*) (a scan of the table, which would add PostgreSQL CPU to
  // the measurement) only once it reaches the target.
  auto count = [&, target = static_cast<int64_t>(expected_total)]() -> int64_t {
    auto n = probe_db->scalar(
      "SELECT coalesce(max(activity_id), 0) FROM user_activities");
    if (!n)
      return -1;
    return *n >= target ? exact_count() : *n;
  };
  reset_peak_rss();
  r.rss_base_kb = status_kb("VmRSS");
  // The first consumed record is seen by a watcher thread on the counter.
  auto& consumed = consumed_counter();
  double consumed_before = consumed.value();
  auto& committed = metrics::global().get_counter(
    "agentmem_events_committed_total",
    "Records whose batch was committed to Postgres and the index.");
  double committed_before = committed.value();
  // A sampler thread notes the first consumed record (0.5 ms resolution),
  // the index snapshots vector_linking takes (10 ms resolution;
  // <data_dir>/index/snapshot.tmp exists while one is written) and the
  // backpressure gauges.
  auto& paused_gauge = metrics::global().get_gauge(
    "agentmem_consumer_paused",
    "1 while ingress pauses partitions (backpressure), else 0.");
  auto& in_flight_gauge = metrics::global().get_gauge(
    "agentmem_batches_in_flight", "Batches not yet acknowledged.");
  std::atomic<bool> watch_stop{false};
  std::atomic<int64_t> first_consume_ns{0};
  struct sample {
    clk::time_point t;
    double paused, in_flight;
  };
  std::vector<sample> samples;
  std::vector<std::pair<clk::time_point, clk::time_point>> snapshots;
  const fs::path snap_tmp =
    fs::path{env.root} / ("node-" + name) / "index" / "snapshot.tmp";
  std::thread watcher([&] {
    std::optional<clk::time_point> snap_start;
    auto next_sample = clk::now();
    while (!watch_stop.load()) {
      auto now = clk::now();
      if (first_consume_ns.load() == 0 && consumed.value() > consumed_before) {
        first_consume_ns = now.time_since_epoch().count();
        r.rss_first_kb = status_kb("VmRSS");
      }
      std::error_code sec;
      bool writing = fs::exists(snap_tmp, sec);
      if (writing && !snap_start)
        snap_start = now;
      else if (!writing && snap_start) {
        snapshots.push_back({*snap_start, now});
        snap_start.reset();
      }
      if (now >= next_sample) {
        samples.push_back({now, paused_gauge.value(), in_flight_gauge.value()});
        next_sample = now + std::chrono::milliseconds(20);
      }
      // 10 ms once consuming: the sampler runs in the measured process,
      // and 500 wake-ups a second showed in its CPU with small batches.
      std::this_thread::sleep_for(std::chrono::microseconds(
        first_consume_ns.load() == 0 ? 500 : 10000));
    }
  });
  auto acfg = pipeline::node_actor_system_config();
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<pipeline::topology> node;
  std::thread feeder;
  feed_times ft;
  std::atomic<bool> probe_stop{false};
  std::thread prober;
  std::vector<double> searchable;
  size_t probe_missing = 0;
  auto stop_prober = [&] {
    probe_stop = true;
    if (prober.joinable())
      prober.join();
  };
  auto cleanup = [&] {
    stop_prober();
    watch_stop = true;
    if (watcher.joinable())
      watcher.join();
    if (feeder.joinable())
      feeder.join();
  };
  try {
    sys = std::make_unique<caf::actor_system>(acfg);
    auto t_start = clk::now();
    node = must(pipeline::topology::start(*sys, cfg), "topology start");
    auto t_started = clk::now();
    r.startup_s = seconds(t_start, t_started);
    bool record_timeline = false;
    auto next_point = clk::now();
    auto wait_for = [&](int64_t target, const std::string& what,
                        clk::time_point* done_at) {
      int64_t last = -2;
      auto last_change = clk::now();
      while (true) {
        auto n = count();
        auto now = clk::now();
        if (record_timeline && now >= next_point) {
          timeline_point tp;
          tp.t = now;
          tp.rows = n - static_cast<int64_t>(warmup_events);
          tp.produced = produced ? static_cast<int64_t>(produced->load()) : -1;
          tp.machine_cpu = machine_busy_cpu();
          tp.others_cpu = tp.machine_cpu - process_cpu()
                          - postgres_cpu(env.pg_dir);
          for (auto& [tid, v] : thread_cpu())
            if (v.first == "rdk:mock")
              tp.broker_cpu += v.second;
          r.timeline.push_back(tp);
          next_point = now + std::chrono::seconds(1);
        }
        if (n == target) {
          if (done_at)
            *done_at = now;
          return;
        }
        if (n > target)
          die(what + ": user_activities has " + std::to_string(n)
              + " rows, more than the " + std::to_string(target)
              + " events produced");
        if (node->failed())
          die(what + ": the pipeline failed (supervisor gave up)");
        if (n != last) {
          last = n;
          last_change = now;
        } else if (now - last_change > std::chrono::seconds(90)) {
          die(what + ": stuck at " + std::to_string(n) + " of "
              + std::to_string(target) + " rows for 90 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    };
    metrics_snapshot m0;
    std::map<int, std::pair<std::string, double>> th0;
    double cpu0 = 0, pg0 = 0, machine0 = 0, flt0 = 0, pgflt0 = 0;
    clk::time_point t_begin{};
    if (warmup_events > 0) {
      warmup_feed();
      wait_for(static_cast<int64_t>(warmup_events), name + " warm-up",
               nullptr);
    }
    reset_statements(url);
    m0 = metrics_snapshot::take();
    th0 = thread_cpu();
    cpu0 = process_cpu();
    flt0 = process_minflt();
    {
      auto pg = postgres_usage(env.pg_dir);
      pg0 = pg.cpu_s;
      pgflt0 = pg.minflt;
    }
    machine0 = machine_busy_cpu();
    record_timeline = true;
    if (feed) {
      feeder = std::thread([&] { ft = feed(); });
      if (probe && produced && probe->produced_us)
        prober = std::thread([&] {
          // Every 5 ms: which produced sample events are searchable now
          // (5 ms of resolution against a 500 ms target; at 2 ms the
          // lookups of ~400 pending samples took 6 % of the machine's CPU
          // at 50 % load, competing with the pipeline it measures).
          size_t next = 0;
          std::vector<size_t> pending;
          while (true) {
            bool last_round = probe_stop.load();
            size_t np = produced->load();
            while (next < probe->events.size()
                   && probe->events[next].index < np)
              pending.push_back(next++);
            int64_t now = wall_us();
            size_t keep = 0;
            for (auto k : pending) {
              auto [i, point, part] = probe->events[k];
              // One shard's lookup: scanning all 256 shards for every
              // pending sample every 2 ms took 40 % of the process's CPU
              // at 50 % load, and the shards' locks from vector linking.
              if (node->index_contains(part, point))
                searchable.push_back(
                  static_cast<double>(now - (*probe->produced_us)[i]) / 1e3);
              else
                pending[keep++] = k;
            }
            pending.resize(keep);
            if (last_round) {
              probe_missing = pending.size();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        });
    }

    clk::time_point t_done{};
    wait_for(static_cast<int64_t>(expected_total), name, &t_done);
    // The rows are visible once the writer committed; the batch is done
    // when vector linking has indexed its memories and ingress got the ack.
    clk::time_point t_acked{};
    while (true) {
      t_acked = clk::now();
      if (committed.value() - committed_before
          >= static_cast<double>(expected_total))
        break;
      if (t_acked - t_done > std::chrono::seconds(120))
        die(name + ": batches not acknowledged 120 s after their commit");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    auto th1 = thread_cpu();
    r.cpu_process_s = process_cpu() - cpu0;
    r.minflt_process = process_minflt() - flt0;
    {
      auto pg = postgres_usage(env.pg_dir);
      r.cpu_postgres_s = pg.cpu_s - pg0;
      r.minflt_postgres = pg.minflt - pgflt0;
    }
    r.cpu_others_s =
      machine_busy_cpu() - machine0 - r.cpu_process_s - r.cpu_postgres_s;
    r.cpu_by_thread = thread_cpu_delta(th0, th1);
    r.statements = read_statements(url);
    for (auto& st : r.statements)
      r.statements_total_ms += st.total_ms;
    r.m = metrics_snapshot::take().since(m0);
    r.rss_peak_kb = status_kb("VmHWM");
    if (feeder.joinable())
      feeder.join();
    stop_prober();
    std::sort(searchable.begin(), searchable.end());
    r.searchable_ms = std::move(searchable);
    r.searchable_missing = probe_missing;
    for (auto& tp : r.timeline)
      if (tp.produced >= 0)
        r.max_lag = std::max(r.max_lag, tp.produced - tp.rows);
    watch_stop = true;
    watcher.join();
    clk::time_point t_first{clk::duration{first_consume_ns.load()}};
    auto window_begin = feed ? ft.first : t_first;
    r.t_begin = window_begin;
    {
      double paused = 0, in_flight = 0, at_limit = 0;
      size_t n = 0;
      for (auto& x : samples)
        if (x.t >= window_begin && x.t <= t_acked) {
          paused += x.paused;
          in_flight += x.in_flight;
          at_limit += x.in_flight >= static_cast<double>(cfg.max_in_flight);
          ++n;
        }
      r.at_limit_fraction = n ? at_limit / n : NAN;
      r.paused_fraction = n ? paused / n : NAN;
      r.mean_in_flight = n ? in_flight / n : NAN;
      for (auto& [a, b] : snapshots)
        if (b >= window_begin && a <= t_acked) {
          auto d = seconds(std::max(a, window_begin), std::min(b, t_acked));
          r.snapshot_count += 1;
          r.snapshot_total_s += d;
          r.snapshot_max_s = std::max(r.snapshot_max_s, seconds(a, b));
        }
    }
    if (feed) {
      t_begin = ft.first;
      r.feed_producer_cpu_s = ft.producer_cpu_s;
      r.tail_s = seconds(ft.last, t_done);
      r.produce_rate = ft.produced / std::max(1e-9, seconds(ft.first, ft.last));
      r.machine_cores_by_sixth = cores_by_sixth(
        r.timeline, ft.first, ft.last, &timeline_point::machine_cpu);
      r.broker_cores_by_sixth = cores_by_sixth(
        r.timeline, ft.first, ft.last, &timeline_point::broker_cpu);
    } else {
      t_begin = t_first;
    }
    r.join_s = first_consume_ns.load() ? seconds(t_started, t_first) : NAN;
    r.run_s = seconds(t_begin, t_done);
    r.events_per_s = r.events / std::max(1e-9, r.run_s);
    r.total_with_startup_s = seconds(t_start, t_done);
    r.acked_s = seconds(t_begin, t_acked);
    r.acked_events_per_s = r.events / std::max(1e-9, r.acked_s);
    r.pg_activities = exact_count();
    auto nm = probe_db->scalar("SELECT count(*) FROM memories");
    r.pg_memories = nm ? *nm : -1;
    r.index_points = static_cast<int64_t>(node->index_size());
    r.shards_open = node->shard_count();
    r.parts = node->memory();
    r.rss_end_kb = status_kb("VmRSS");
    r.heap = pipeline::allocator_stats();
    trim_heap(); // the node is idle: what is retention, what is live
    r.rss_end_trimmed_kb = status_kb("VmRSS");
    if (!r.m.e2e.bounds.empty()) {
      r.hist_p50_s = hquantile(r.m.e2e, 0.5);
      r.hist_p99_s = hquantile(r.m.e2e, 0.99);
    }
    auto t_stop = clk::now();
    if (auto err = node->stop())
      log(name + ": stop: " + describe(err));
    r.stop_s = seconds(t_stop, clk::now());
    node.reset();
    sys.reset();
    trim_heap();
    r.rss_after_kb = status_kb("VmRSS");
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
    log(name + " failed: " + r.error);
    cleanup();
    if (node)
      node->stop();
    node.reset();
    sys.reset();
    return r;
  }
  cleanup();
  return r;
}

// Per-event latency: Postgres ingested_at minus the produce time recorded
// for each event id.
// q-quantile of sorted values, NAN when empty.
double quantile_of(const std::vector<double>& sorted, double q) {
  if (sorted.empty())
    return NAN;
  return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
}

// The median of `v` (NaN when empty): the mean of the middle two for an
// even count (quantile_of takes the lower one).
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN
                   : v.size() % 2 ? v[v.size() / 2]
                                  : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void event_latencies(const std::string& url,
                     const std::unordered_map<std::string, int64_t>& produced_us,
                     scenario_result& r) {
  pqxx::connection conn{url};
  pqxx::work w{conn};
  auto rows = w.exec("SELECT event_id, (extract(epoch FROM ingested_at) "
                     "* 1000000)::bigint FROM user_activities");
  std::vector<double> lat;
  std::vector<std::pair<int64_t, double>> by_time; // produce µs, latency
  lat.reserve(rows.size());
  by_time.reserve(rows.size());
  for (auto row : rows) {
    auto it = produced_us.find(row[0].as<std::string>());
    if (it == produced_us.end())
      continue; // warm-up event
    lat.push_back(static_cast<double>(row[1].as<int64_t>() - it->second)
                  / 1000.0);
    by_time.emplace_back(it->second, lat.back());
  }
  if (lat.empty())
    return;
  std::sort(by_time.begin(), by_time.end());
  constexpr size_t parts = 6;
  const auto t0 = by_time.front().first;
  const auto span = std::max<int64_t>(1, by_time.back().first - t0 + 1);
  std::vector<std::vector<double>> part(parts);
  for (auto& [t, l] : by_time)
    part[static_cast<size_t>((t - t0) * static_cast<int64_t>(parts) / span)]
      .push_back(l);
  for (auto& v : part) {
    std::sort(v.begin(), v.end());
    r.lat_p99_by_sixth_ms.push_back(quantile_of(v, 0.99));
  }
  std::sort(lat.begin(), lat.end());
  r.lat_p50_ms = quantile_of(lat, 0.50);
  r.lat_p90_ms = quantile_of(lat, 0.90);
  r.lat_p99_ms = quantile_of(lat, 0.99);
  r.lat_max_ms = lat.back();
}

// --- output --------------------------------------------------------------------------

struct report {
  std::string machine;
  std::string allocator; // pipeline::allocator_name()
  size_t events = 0;
  size_t bytes = 0;
  int partitions = 0;
  int users = 0;
  std::map<std::string, size_t> by_type;
  size_t memories = 0;
  std::map<std::string, size_t> memories_by_type;
  std::vector<rate_row> rows;
  scenario_result backlog, steady;
  // --steady-repeats: the steady scenario run again, unchanged (the first
  // run is `steady`). At a writer utilisation of 0.7-0.9 one run's p99
  // is not a stable figure (docs/performance.md, sixth round).
  std::vector<scenario_result> steady_repeats;
  // --backlog-repeats: the backlog scenario run again on a fresh database
  // and consumer group (the first run is `backlog`), each right after its
  // own 2-thread hnswlib run: (the run, that reference's events/s). Both
  // rates follow the machine's speed of the moment, which moves one run's
  // ratio by ±7 % (docs/performance.md, twentieth round).
  std::vector<std::pair<scenario_result, double>> backlog_repeats;
  // Stepped offered load: one steady run per fraction of the backlog rate.
  std::vector<std::pair<double, scenario_result>> steps;
  double step_window_s = 0;
  std::string broker = "mock";
  long process_peak_kb = 0;
  std::string load_start, load_end;
  double others_cpu_s = 0; // whole run: CPU used by unrelated processes
  double bench_seconds = 0;
  std::string node_settings;
  double snapshot_s = 0; // vector_index::save of the standalone index
  size_t snapshot_points = 0;
  long index_rss_kb = 0; // RSS of the standalone 2-thread index, measured
  long keywords_rss_kb = 0; // RSS of a keyword index of the same memories
  long shards_rss_kb = 0;   // RSS of the node's shards holding them
  size_t shards_points = 0;
  uintmax_t snapshot_bytes = 0;
};

std::string machine_line() {
  std::ifstream in{"/proc/cpuinfo"};
  std::string line, model = "unknown CPU";
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  long mem_kb = 0;
  std::ifstream mi{"/proc/meminfo"};
  while (std::getline(mi, line))
    if (line.rfind("MemTotal:", 0) == 0)
      mem_kb = std::strtol(line.c_str() + 9, nullptr, 10);
  return std::to_string(std::thread::hardware_concurrency()) + " cores, "
         + model + ", " + fixed(mib(mem_kb) / 1024.0, 1) + " GiB RAM";
}

// A table printed as Markdown (`md`) or aligned plain text.
struct table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> right; // right-align column

  void print(std::ostream& o, bool md) const {
    std::vector<size_t> w(head.size());
    for (size_t c = 0; c < head.size(); ++c) {
      w[c] = head[c].size();
      for (auto& r : rows)
        w[c] = std::max(w[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
      for (size_t c = 0; c < cells.size(); ++c) {
        bool ra = c < right.size() && right[c];
        std::string pad(w[c] - cells[c].size(), ' ');
        if (md)
          o << (c == 0 ? "| " : " | ");
        else if (c > 0)
          o << "  ";
        o << (ra ? pad + cells[c] : cells[c] + pad);
      }
      o << (md ? " |" : "") << '\n';
    };
    line(head);
    if (md) {
      o << '|';
      for (size_t c = 0; c < head.size(); ++c)
        o << std::string(w[c] + 1, '-') << (c < right.size() && right[c] ? ":|" : "-|");
      o << '\n';
    } else {
      size_t total = 0;
      for (auto x : w)
        total += x + 2;
      o << std::string(total - 2, '-') << '\n';
    }
    for (auto& r : rows)
      line(r);
  }
};

std::string ms_or_na(double ms) {
  return std::isnan(ms) ? "n/a" : fixed(ms, ms < 10 ? 1 : 0) + " ms";
}

// Sustainable (issue #13): the pipeline kept up with the offered load over
// the window: p99 produce -> committed row <= 1 s and the lag bounded (the
// last event stored within 1 s of its produce time).
bool sustainable(const scenario_result& s) {
  return s.ok && s.lat_p99_ms <= 1000 && s.tail_s <= 1.0;
}

// CPU per event of the components that are in the sum (µs), NAN if any
// of them was not measured.
double components_cpu_us(const report& rep) {
  double sum = 0;
  for (auto& r : rep.rows)
    if (r.in_cpu_sum)
      sum += r.cpu_us_per_event(rep.events);
  return sum;
}

double pipeline_cpu_us(const scenario_result& s) {
  return (s.cpu_process_s + s.cpu_postgres_s) * 1e6
         / std::max<size_t>(1, s.events);
}

void print_report(std::ostream& o, const report& rep, bool md) {
  auto h = [&](const std::string& t) {
    if (md)
      o << "\n### " << t << "\n\n";
    else
      o << "\n== " << t << " ==\n";
  };
  h("Setup");
  std::ostringstream mix;
  for (auto& [t, n] : rep.by_type)
    mix << (mix.tellp() > 0 ? ", " : "") << t << " " << fixed(100.0 * n / rep.events, 1) << "%";
  std::ostringstream mm;
  for (auto& [t, n] : rep.memories_by_type)
    mm << (mm.tellp() > 0 ? ", " : "") << t << " " << grouped(n);
  std::string b = md ? "- " : "  ";
  o << b << "machine: " << rep.machine << "; malloc: " << rep.allocator
    << "\n"
    << b << "events: " << grouped(rep.events) << " (" << rep.users
    << " users, avg " << rep.bytes / std::max<size_t>(1, rep.events)
    << " B, " << fixed(rep.bytes / 1048576.0, 1) << " MiB); mix: " << mix.str()
    << "\n"
    << b << "memories derived: " << grouped(rep.memories) << " ("
    << fixed(static_cast<double>(rep.memories) / rep.events, 3)
    << " per event): " << mm.str() << "\n"
    << b << "topic: " << rep.partitions << " partitions on "
    << (rep.broker == "real"
          ? "a real Apache Kafka broker (scripts/kafka-broker.sh, its own "
            "JVM process: not in the CPU figures)"
          : "librdkafka's mock cluster (1 broker, in-process: in the bench "
            "process's CPU)")
    << "; PostgreSQL: private cluster (storage::pg_cluster) with "
       "pg_stat_statements\n"
    << b << "node: " << rep.node_settings << "\n"
    << b << "load average at start / end: " << rep.load_start << " / "
    << rep.load_end << "; unrelated processes used "
    << fixed(rep.others_cpu_s, 1) << " CPU-s during the " << fixed(rep.bench_seconds, 0)
    << " s run (noise indicator; 0 on a quiet machine)\n";

  h("Standalone component rates (same events)");
  table t;
  t.head = {"component", "rate", "unit", "events/s equivalent",
            "CPU µs/event", "note"};
  t.right = {false, true, false, true, true, false};
  double slowest = 0;
  std::string slowest_name;
  for (auto& r : rep.rows) {
    double cpu = r.cpu_us_per_event(rep.events);
    t.rows.push_back({(r.standalone_core ? "" : "(extra) ") + r.component,
                      grouped(r.unit_rate()), r.measured + "/s",
                      grouped(r.events_per_s),
                      std::isnan(cpu) ? "-"
                                      : fixed(cpu, 1) + (r.in_cpu_sum ? " *" : ""),
                      r.note});
    if (r.standalone_core && (slowest == 0 || r.events_per_s < slowest)) {
      slowest = r.events_per_s;
      slowest_name = r.component;
    }
  }
  t.print(o, md);
  if (rep.snapshot_points > 0)
    o << "\n"
      << b << "index snapshot (vector_index::save) at "
      << grouped(rep.snapshot_points) << " points: "
      << fixed(rep.snapshot_s, 2) << " s, "
      << fixed(rep.snapshot_bytes / 1048576.0, 0)
      << " MiB; vector_linking takes one every snapshot_interval (5 s, as "
         "`agentmem dev`), outside its stage timer\n";

  o << "\n" << b
    << "CPU µs/event: CPU of this process plus the PostgreSQL server while "
       "the component ran, per pipeline event; * = in the components' sum "
       "(the issue's list: consumer, decode, embedding, COPY of the "
       "activity and memory rows, HNSW insertion, RocksDB): "
    << fixed(components_cpu_us(rep), 1) << " µs/event\n";

  h("Pipeline (pipeline::topology, in-process)");
  table p;
  p.head = {"scenario", "events", "events/s (rows in PG)",
            "vs slowest standalone", "events/s (indexed + acked)",
            "p50 latency", "p99 latency", "peak RSS (bench process)"};
  p.right = {false, true, true, true, true, true, true, true};
  auto add = [&](const scenario_result& s) {
    if (!s.ok) {
      bool skipped = s.error == "skipped";
      p.rows.push_back({s.name, skipped ? "-" : grouped(s.events),
                        skipped ? "skipped" : "FAILED", "-", "-", "-", "-",
                        skipped ? "-" : s.error.substr(0, 60)});
      return;
    }
    std::string ratio =
      slowest > 0 ? fixed(100.0 * s.events_per_s / slowest, 1) + " %" : "n/a";
    p.rows.push_back(
      {s.name, grouped(s.events), grouped(s.events_per_s), ratio,
       grouped(s.acked_events_per_s), ms_or_na(s.lat_p50_ms), ms_or_na(s.lat_p99_ms),
       fixed(mib(s.rss_peak_kb), 0) + " MiB (base "
         + fixed(mib(s.rss_base_kb), 0) + ")"});
  };
  add(rep.backlog);
  add(rep.steady);
  p.print(o, md);
  o << "\n";
  if (rep.backlog.ok && slowest > 0) {
    double ratio = rep.backlog.events_per_s / slowest;
    o << b << "slowest standalone component: " << slowest_name << " ("
      << grouped(slowest) << " events/s); pipeline backlog throughput is "
      << fixed(100.0 * ratio, 1) << " % of it ("
      << fixed(100.0 * rep.backlog.acked_events_per_s / slowest, 1)
      << " % counting until the last batch was indexed): target >= 50 % "
      << (ratio >= 0.5 ? "MET" : "MISSED") << "; issue #13 target >= 70 % "
      << (ratio >= 0.7 ? "MET" : "MISSED") << "\n";
    double comp = components_cpu_us(rep);
    double pipe = pipeline_cpu_us(rep.backlog);
    o << b << "CPU per event, backlog: pipeline " << fixed(pipe, 1)
      << " µs (bench process " << fixed(rep.backlog.cpu_process_s * 1e6
                                        / std::max<size_t>(1, rep.backlog.events), 1)
      << " + PostgreSQL " << fixed(rep.backlog.cpu_postgres_s * 1e6
                                   / std::max<size_t>(1, rep.backlog.events), 1)
      << "), components " << fixed(comp, 1) << " µs: ratio "
      << fixed(pipe / comp, 2) << " (target <= 1.5 "
      << (pipe / comp <= 1.5 ? "MET" : "MISSED") << ")\n";
    o << b << "cpu_ratio=" << fixed(pipe / comp, 3) << "\n";
  }
  if (rep.backlog.ok && slowest > 0 && !rep.backlog_repeats.empty()) {
    // Every run's ratio against the reference measured just before it;
    // the target is judged on their median. The other standalone
    // components are far faster than hnswlib and are not rerun.
    double others = 0; // the slowest standalone component but hnswlib
    for (auto& r : rep.rows)
      if (r.standalone_core && r.component.rfind("hnswlib", 0) != 0
          && (others == 0 || r.events_per_s < others))
        others = r.events_per_s;
    std::vector<double> ratios{rep.backlog.events_per_s / slowest};
    std::string runs = fixed(100.0 * ratios.front(), 1) + " % ("
                       + grouped(rep.backlog.events_per_s) + " of "
                       + grouped(slowest) + ", "
                       + fixed(pipeline_cpu_us(rep.backlog), 1) + " µs/event)";
    for (auto& [run, ref_rate] : rep.backlog_repeats) {
      double ref = others > 0 ? std::min(ref_rate, others) : ref_rate;
      if (!run.ok || ref <= 0) {
        runs += ", n/a";
        continue;
      }
      ratios.push_back(run.events_per_s / ref);
      runs += ", " + fixed(100.0 * ratios.back(), 1) + " % ("
              + grouped(run.events_per_s) + " of " + grouped(ref) + ", "
              + fixed(pipeline_cpu_us(run), 1) + " µs/event)";
    }
    double med = median_of(ratios);
    o << b << "backlog, " << 1 + rep.backlog_repeats.size()
      << " runs, each against a 2-thread hnswlib run just before it: " << runs
      << "; median " << fixed(100.0 * med, 1)
      << " % (issue #13 target >= 70 % on the median "
      << (med >= 0.7 ? "MET" : "MISSED") << ")\n";
  }
  // The aggregation stage folds usage, session and event-time analytics
  // rollups (hour and day windows per agent, tool and model, with latency
  // sketches; docs/operations.md "Analytics"): it must not become the
  // bottleneck.
  for (auto* s : {&rep.backlog, &rep.steady})
    if (s->ok)
      o << b << s->name << ": aggregation stage (rollups incl. analytics) "
        << fixed(s->m.stage_cpu.at("aggregation") * 1e6
                   / std::max<size_t>(1, s->events), 2)
        << " CPU-µs/event (busy "
        << fixed(s->m.stages.at("aggregation").sum * 1e6
                   / std::max<size_t>(1, s->events), 2)
        << " µs/event)\n";
  auto details = [&](const scenario_result& s) {
    if (!s.ok)
      return;
    o << b << s.name << ": start-up " << fixed(s.startup_s, 2)
      << " s, group join to first record " << fixed(s.join_s, 2)
      << " s, run " << fixed(s.run_s, 2) << " s to the last row in Postgres ("
      << fixed(s.total_with_startup_s, 2) << " s incl. start-up = "
      << grouped(s.events / std::max(1e-9, s.total_with_startup_s))
      << " events/s), " << fixed(s.acked_s, 2)
      << " s until every batch was indexed and acknowledged ("
      << grouped(s.acked_events_per_s) << " events/s), stop "
      << fixed(s.stop_s, 2) << " s; Postgres rows "
      << grouped(s.pg_activities) << ", memories " << grouped(s.pg_memories)
      << ", index points " << grouped(s.index_points) << "\n";
    if (s.index_points > 0)
      o << b << s.name << ": memory: peak RSS " << fixed(mib(s.rss_peak_kb), 0)
        << " MiB over a base of " << fixed(mib(s.rss_base_kb), 0)
        << " MiB = " << fixed(mib(s.rss_peak_kb - s.rss_base_kb) / 1024.0
                                / static_cast<double>(s.index_points) * 1e6,
                              2)
        << " GiB per 1M memories in the index (the node: shards, RocksDB, "
           "batches in flight, consumer queues, allocator retention; the "
           "mock broker's copy of a pre-produced topic is in the base, "
           "its fetch buffers are not); after the node "
           "stopped: "
        << fixed(mib(s.rss_after_kb), 0) << " MiB ("
        << (s.rss_after_kb - s.rss_base_kb >= 0 ? "+" : "")
        << fixed(mib(s.rss_after_kb - s.rss_base_kb), 0)
        << " MiB against the base)\n";
    if (s.index_points > 0) {
      auto over = [&](long kb) {
        return (kb - s.rss_base_kb >= 0 ? "+" : "")
               + fixed(mib(kb - s.rss_base_kb), 0) + " MiB";
      };
      o << b << s.name << ": memory over the base: at the first record "
           "(the node up, its shards empty) "
        << (s.rss_first_kb >= 0 ? over(s.rss_first_kb) : std::string{"n/a"})
        << "; at the end of the run (node idle, " << s.shards_open
        << " shards) " << over(s.rss_end_kb)
        << ", after the allocator released its free pages "
        << over(s.rss_end_trimmed_kb) << "; the heap before the release ("
        << rep.allocator << "): "
        << fixed(s.heap.allocated / 1048576.0, 0) << " MiB allocated, "
        << fixed(s.heap.held / 1048576.0, 0)
        << " MiB held (an upper bound of its resident memory: the graphs' "
           "reserved, untouched capacity counts too), "
        << fixed(s.heap.retained / 1048576.0, 0)
        << " MiB retained address space (returned to the OS)";
      // A measured RSS of `points` points: B/point, and scaled to this run.
      auto per_point = [&](long kb, size_t points) {
        double b = kb * 1024.0 / static_cast<double>(points);
        return fixed(b, 0) + " B/point, "
               + fixed(b * static_cast<double>(s.index_points) / 1048576.0, 0)
               + " MiB for this run's points";
      };
      if (rep.index_rss_kb > 0 && rep.snapshot_points > 0)
        o << "; the index's own size (RSS of the standalone index, "
             "measured): "
          << per_point(rep.index_rss_kb, rep.snapshot_points)
          << " (estimate: one graph, not " << s.shards_open << ")";
      if (rep.keywords_rss_kb != 0 && rep.snapshot_points > 0)
        o << "; BM25 keyword index (standalone, measured): "
          << per_point(rep.keywords_rss_kb, rep.snapshot_points)
          << " (estimate)";
      if (rep.shards_rss_kb != 0 && rep.shards_points > 0)
        o << "; the same memories in " << rep.partitions
          << " shards (graph + keyword index each, standalone, measured): "
          << fixed(mib(rep.shards_rss_kb), 0) << " MiB = "
          << per_point(rep.shards_rss_kb, rep.shards_points);
      o << "; RocksDB (properties: memtables, readers, block cache): hot "
           "state "
        << fixed(s.parts.rocksdb_hot / 1048576.0, 0) << " MiB, working memory "
        << fixed(s.parts.rocksdb_working / 1048576.0, 0)
        << " MiB; conversation-buffer cache "
        << fixed(s.parts.buffer_cache / 1048576.0, 0) << " MiB";
      o << "\n";
    }
    o << b << s.name << ": max_in_flight batches unacknowledged "
      << fixed(100.0 * s.at_limit_fraction, 0)
      << " % of the run (partitions paused "
      << fixed(100.0 * s.paused_fraction, 0) << " %), mean "
      << fixed(s.mean_in_flight, 2) << " batches in flight; "
      << s.snapshot_count << " index snapshots written by vector_linking, "
      << fixed(s.snapshot_total_s, 1) << " s in total ("
      << fixed(100.0 * s.snapshot_total_s / std::max(1e-9, s.acked_s), 0)
      << " % of the run, longest " << fixed(s.snapshot_max_s, 2) << " s)\n";
    if (!s.timeline.empty()) {
      // Every ~10 s: rows/s over the interval, backlog (steady: published
      // minus stored), CPU of unrelated processes (noise) in the interval.
      o << b << s.name << " timeline (t: rows/s, lag, others' CPU):";
      size_t prev = 0;
      for (size_t i = 1; i < s.timeline.size(); ++i) {
        auto& a = s.timeline[prev];
        auto& z = s.timeline[i];
        if (seconds(a.t, z.t) < 9.5 && i + 1 < s.timeline.size())
          continue;
        double dt = seconds(a.t, z.t);
        o << " " << fixed(seconds(s.t_begin, z.t), 0) << "s: "
          << grouped((z.rows - a.rows) / dt) << "/s";
        if (z.produced >= 0)
          o << ", lag " << grouped(static_cast<double>(z.produced - z.rows));
        o << ", " << fixed((z.others_cpu - a.others_cpu) / dt * 100, 0)
          << "%;";
        prev = i;
      }
      o << "\n";
    }
    if (!s.machine_cores_by_sixth.empty()) {
      o << b << s.name << ": machine busy cores by sixth of the window:"
        << sixths_list(s.machine_cores_by_sixth, cores_or_na);
      if (rep.broker == "mock")
        o << "; of them the embedded broker (rdk:mock):"
          << sixths_list(s.broker_cores_by_sixth, cores_or_na);
      o << "\n";
    }
    if (s.target_rate > 0)
      o << b << s.name << ": target rate " << grouped(s.target_rate)
        << " events/s, published at " << grouped(s.produce_rate)
        << " events/s, last event in Postgres " << fixed(s.tail_s, 2)
        << " s after it was produced; per-event latency (ingested_at - "
           "produce time) p50 "
        << ms_or_na(s.lat_p50_ms) << ", p90 " << ms_or_na(s.lat_p90_ms)
        << ", p99 " << ms_or_na(s.lat_p99_ms) << ", max "
        << ms_or_na(s.lat_max_ms)
        << "; agentmem_event_end_to_end_seconds (per batch, oldest record -> "
           "ack) p50 "
        << ms_or_na(s.hist_p50_s * 1e3) << ", p99 "
        << ms_or_na(s.hist_p99_s * 1e3) << "\n";
    if (!s.searchable_ms.empty() || s.searchable_missing > 0)
      o << b << s.name << ": produce -> searchable (conversation memory in "
        << "the node's vector index, " << grouped(s.searchable_ms.size())
        << " sampled events): p50 " << ms_or_na(quantile_of(s.searchable_ms, 0.5))
        << ", p99 " << ms_or_na(quantile_of(s.searchable_ms, 0.99)) << ", max "
        << ms_or_na(s.searchable_ms.empty() ? NAN : s.searchable_ms.back())
        << (s.searchable_missing
              ? "; " + std::to_string(s.searchable_missing) + " never seen"
              : std::string{})
        << "\n";
  };
  details(rep.backlog);
  details(rep.steady);
  if (!rep.steady_repeats.empty() && rep.steady.ok) {
    // Every run's p50 and p99 of the same steady scenario, then their
    // medians (p50 is the steadier figure at high utilisation). A
    // run without a figure (no searchable sample) is listed as n/a and
    // left out of the median: NaN cannot be sorted.
    std::vector<double> row50, row, searchable;
    std::string runs_row50, runs_row, runs_searchable;
    size_t runs = 0;
    auto add = [](double ms, std::vector<double>& values, std::string& text) {
      text += (text.empty() ? "" : ", ") + ms_or_na(ms);
      if (!std::isnan(ms))
        values.push_back(ms);
    };
    auto add_run = [&](const scenario_result& s) {
      if (!s.ok)
        return;
      ++runs;
      add(s.lat_p50_ms, row50, runs_row50);
      add(s.lat_p99_ms, row, runs_row);
      add(quantile_of(s.searchable_ms, 0.99), searchable, runs_searchable);
    };
    add_run(rep.steady);
    for (auto& r : rep.steady_repeats)
      add_run(r);
    o << b << "steady, " << runs << " runs of the same scenario: p50 "
      << "produce -> row " << runs_row50 << " (median "
      << ms_or_na(median_of(row50)) << "); p99 produce -> row " << runs_row
      << " (median " << ms_or_na(median_of(row)) << "); p99 produce -> "
      << "searchable " << runs_searchable << " (median "
      << ms_or_na(median_of(searchable)) << ")\n";
  }
  if (!rep.steps.empty()) {
    h("Stepped offered load (sustainable = p99 produce -> row <= 1 s and the "
      "last event stored within 1 s of its produce time, over a window of "
      "up to " + fixed(rep.step_window_s, 0) + " s: fewer when --events "
      "runs out first)");
    table sl;
    // "window s": the feed's length, events / rate; shorter than
    // --step-window-s when --events runs out first.
    sl.head = {"offered", "events/s", "events", "window s", "records/batch",
               "p50 row", "p99 row", "p99 searchable", "max lag", "tail s",
               "CPU µs/event", "sustainable"};
    sl.right = {true, true, true, true, true, true, true, true, true, true,
                true, false};
    double best = 0;
    for (auto& [f, s] : rep.steps) {
      if (!s.ok) {
        sl.rows.push_back({fixed(100 * f, 0) + " %", "-", "-", "-", "-", "-",
                           "-", "-", "-", "-", "-",
                           "FAILED: " + s.error.substr(0, 40)});
        continue;
      }
      bool ok = sustainable(s);
      if (ok)
        best = std::max(best, f);
      sl.rows.push_back(
        {fixed(100 * f, 0) + " %", grouped(s.target_rate), grouped(s.events),
         fixed(s.target_rate > 0
                 ? static_cast<double>(s.events) / s.target_rate
                 : 0,
               0),
         fixed(s.m.batch_size.count
                 ? s.m.batch_size.sum / s.m.batch_size.count
                 : 0,
               0),
         ms_or_na(s.lat_p50_ms), ms_or_na(s.lat_p99_ms),
         ms_or_na(quantile_of(s.searchable_ms, 0.99)),
         grouped(static_cast<double>(s.max_lag)), fixed(s.tail_s, 2),
         fixed(pipeline_cpu_us(s), 0), ok ? "yes" : "no"});
    }
    sl.print(o, md);
    o << "\n" << b << "p99 produce -> row by sixth of the window (events"
         " grouped by produce time):";
    for (auto& [f, s] : rep.steps) {
      if (!s.ok)
        continue;
      o << " " << fixed(100 * f, 0) << " %:"
        << sixths_list(s.lat_p99_by_sixth_ms, ms_or_na) << ";";
    }
    // Against the p99 above: how busy the two cores were in each sixth,
    // and (mock) how much of that the embedded broker took.
    auto by_sixth = [&](const std::string& what,
                        std::vector<double> scenario_result::*cores) {
      o << "\n" << b << what;
      for (auto& [f, s] : rep.steps) {
        if (!s.ok || (s.*cores).empty())
          continue;
        o << " " << fixed(100 * f, 0) << " %:"
          << sixths_list(s.*cores, cores_or_na) << ";";
      }
    };
    by_sixth("machine busy cores (all processes, of "
               + std::to_string(std::thread::hardware_concurrency())
               + ") by sixth of the window:",
             &scenario_result::machine_cores_by_sixth);
    if (rep.broker == "mock") {
      by_sixth("of them the embedded broker (rdk:mock) by sixth:",
               &scenario_result::broker_cores_by_sixth);
      // The embedded broker serves the feed's produce requests and the
      // node's fetches in this process, on the same two cores. librdkafka
      // 2.0's mock cluster finds a fetch's message set by walking the
      // partition's log from its start, so its CPU per event grows with the
      // message sets already in the partition (docs/performance.md,
      // twelfth round): the feed's ~1 record per set makes that the window
      // so far / partitions.
      o << "\n" << b << "embedded broker (its rdk:mock thread; in the CPU"
           " above, not the node's): CPU µs/event";
      for (auto& [f, s] : rep.steps) {
        if (!s.ok)
          continue;
        auto it = s.cpu_by_thread.find("rdk:mock");
        double v = it == s.cpu_by_thread.end() ? 0 : it->second;
        o << " " << fixed(100 * f, 0) << " %: "
          << fixed(v * 1e6 / std::max<size_t>(1, s.events), 0) << ";";
      }
    }
    // The feed stands for agents on other machines; its producer runs
    // here, and its broker thread is woken very often (≈ 1 record per
    // partition at a time), so it is not free.
    o << "\n" << b << "feed producer (its librdkafka threads; in the CPU"
         " above, not the node's): CPU µs/event";
    for (auto& [f, s] : rep.steps) {
      if (!s.ok)
        continue;
      o << " " << fixed(100 * f, 0) << " %: "
        << fixed(s.feed_producer_cpu_s * 1e6
                   / std::max<size_t>(1, s.events), 0)
        << ";";
    }
    o << "\n" << b << "highest sustainable offered load: "
      << fixed(100 * best, 0) << " % of the backlog rate (target >= 90 % "
      << (best >= 0.9 ? "MET" : "MISSED") << ")\n";
  }
  o << b << "process peak RSS (ru_maxrss, whole run incl. standalone phases "
       "and the in-process mock broker): "
    << fixed(mib(rep.process_peak_kb), 0) << " MiB; PostgreSQL runs in its "
       "own processes (not included)\n";

  for (auto* s : {&rep.backlog, &rep.steady}) {
    if (!s->ok)
      continue;
    h("Per-stage breakdown, " + s->name + " (agentmem_stage_duration_seconds)");
    table st;
    st.head = {"stage", "batches", "busy s", "% of run", "mean ms/batch",
               "p50 ms", "p99 ms", "busy µs/event", "CPU µs/event"};
    st.right = {false, true, true, true, true, true, true, true, true};
    auto per_event = [&](double secs) {
      return fixed(secs * 1e6 / std::max<size_t>(1, s->events), 1);
    };
    auto row = [&](const std::string& name, const hsnap& hs, double cpu) {
      double mean = hs.count ? hs.sum / hs.count * 1e3 : 0;
      st.rows.push_back(
        {name, grouped(hs.count), fixed(hs.sum, 2),
         fixed(100.0 * hs.sum / std::max(1e-9, s->acked_s), 1),
         fixed(mean, 1), fixed(hquantile(hs, 0.5) * 1e3, 1),
         fixed(hquantile(hs, 0.99) * 1e3, 1),
         per_event(hs.sum), cpu < 0 ? "-" : per_event(cpu)});
    };
    double stage_cpu_sum = 0;
    for (auto& n : stage_names) {
      row(n, s->m.stages.at(n), s->m.stage_cpu.at(n));
      stage_cpu_sum += s->m.stage_cpu.at(n);
    }
    row("(postgres commit, inside writer)", s->m.commit, -1);
    row("(batch: ingress close -> ack)", s->m.batch_latency, -1);
    st.rows.push_back({"(PostgreSQL server, all processes)", "-", "-", "-", "-",
                       "-", "-", "-", per_event(s->cpu_postgres_s)});
    st.rows.push_back({"(rest of the process: ingress, librdkafka, mock "
                       "broker, index_sync, ...)",
                       "-", "-", "-", "-", "-", "-", "-",
                       per_event(s->cpu_process_s - stage_cpu_sum)});
    st.print(o, md);
    if (!s->statements.empty()) {
      o << "\n" << b << "PostgreSQL statements (pg_stat_statements, "
        << "execution time; the server's CPU above also covers parsing, "
           "commits, WAL writing and background work): "
        << fixed(s->statements_total_ms * 1e3 / std::max<size_t>(1, s->events), 1)
        << " µs/event in " << s->statements.size() << " statements\n\n";
      table ps;
      ps.head = {"statement", "calls", "rows", "total ms", "µs/event",
                 "% of exec"};
      ps.right = {false, true, true, true, true, true};
      for (size_t i = 0; i < s->statements.size() && i < 14; ++i) {
        auto& x = s->statements[i];
        auto q = x.query.size() > 96 ? x.query.substr(0, 93) + "..." : x.query;
        if (md)
          for (auto& c : q)
            if (c == '|')
              c = '/';
        ps.rows.push_back(
          {q, grouped(x.calls), grouped(x.rows), fixed(x.total_ms, 0),
           fixed(x.total_ms * 1e3 / std::max<size_t>(1, s->events), 1),
           fixed(100 * x.total_ms / std::max(1e-9, s->statements_total_ms), 1)});
      }
      ps.print(o, md);
    }
    o << "\n"
      << b << "batches: " << grouped(s->m.batch_size.count) << ", mean "
      << fixed(s->m.batch_size.count ? s->m.batch_size.sum / s->m.batch_size.count : 0, 0)
      << " records/batch\n"
      << b << "CPU during the run (" << fixed(s->acked_s, 1)
      << " s wall, 2 cores = " << fixed(2 * s->acked_s, 1)
      << " core-s): bench process " << fixed(s->cpu_process_s, 1)
      << " s, PostgreSQL server " << fixed(s->cpu_postgres_s, 1)
      << " s, other processes on the machine " << fixed(s->cpu_others_s, 1)
      << " s; bench threads:";
    std::vector<std::pair<double, std::string>> th;
    for (auto& [n, v] : s->cpu_by_thread)
      if (v >= 0.05)
        th.push_back({v, n});
    std::sort(th.rbegin(), th.rend());
    for (auto& [v, n] : th)
      o << " " << n << " " << fixed(v, 1) << " s;";
    o << "\n";
    const double ev = static_cast<double>(std::max<size_t>(1, s->events));
    if (s->feed_producer_cpu_s > 0)
      o << b << "the feed's producer (its librdkafka threads, in the bench "
           "process's CPU; usually ended before the thread list above): "
        << fixed(s->feed_producer_cpu_s, 1) << " s = "
        << fixed(s->feed_producer_cpu_s * 1e6 / ev, 0) << " µs/event\n";
    o << b << "minor page faults per event: bench process "
      << fixed(s->minflt_process / ev, 2) << ", PostgreSQL server "
      << fixed(s->minflt_postgres / ev, 2)
      << " (first touches of memory; writes that grow the page cache are"
         " not faults)\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentmem pipeline throughput benchmark (docs/performance.md)"};
  size_t n_events = 200000;
  int partitions = 256;
  std::string data_dir;
  int users = 1000;
  uint64_t seed = 42;
  double steady_fraction = 0.7;
  size_t steady_events = 0;
  int steady_repeats = 1;
  int backlog_repeats = 1;
  double steady_rate = 0;
  bool keep = false, verbose = false, skip_steady = false;
  bool find_sustainable = false;
  std::vector<double> step_fractions = {0.5, 0.7, 0.8, 0.9, 1.0};
  double step_window_s = 60;
  std::string broker = "mock";
  std::string cpu_ratio_file;
  bench_env env;
  app.add_option("--events", n_events, "Synthetic events")
    ->capture_default_str()
    ->check(CLI::Range(size_t{1000}, size_t{5000000}));
  app.add_option("--partitions", partitions, "Partitions of the topics")
    ->capture_default_str()
    ->check(CLI::Range(1, 1024));
  app.add_option("--data-dir", data_dir,
                 "Work directory (default: a fresh /tmp/agentmem-bench-*, "
                 "removed at the end); must be empty or missing");
  app.add_option("--users", users,
                 "Simulated users (events are keyed by user: many users "
                 "spread them over the partitions)")
    ->capture_default_str()
    ->check(CLI::Range(1, 1000000));
  app.add_option("--seed", seed, "Simulator seed")->capture_default_str();
  app.add_option("--steady-fraction", steady_fraction,
                 "Steady scenario rate as a fraction of the backlog rate")
    ->capture_default_str()
    ->check(CLI::Range(0.01, 2.0));
  app.add_option("--steady-events", steady_events,
                 "Events of the steady scenario (default: --events)");
  app.add_option("--steady-rate", steady_rate,
                 "Steady scenario rate in events/s (overrides "
                 "--steady-fraction)")
    ->check(CLI::NonNegativeNumber);
  app.add_flag("--skip-steady", skip_steady, "Run only the backlog scenario");
  app.add_option("--backlog-repeats", backlog_repeats,
                 "Runs of the backlog scenario, each right after its own "
                 "2-thread hnswlib run (fresh database and consumer group, "
                 "the same topic); the report adds every run's ratio and "
                 "their median")
    ->capture_default_str()
    ->check(CLI::Range(1, 20));
  app.add_option("--steady-repeats", steady_repeats,
                 "Runs of the steady scenario (fresh database and topic "
                 "each); the report adds every run's p99 and their median")
    ->capture_default_str()
    ->check(CLI::Range(1, 20));
  app.add_option("--snapshot-interval-ms", env.snapshot_interval_ms,
                 "Node: index snapshot interval (node default 30000, "
                 "agentmem dev: 5000)")
    ->capture_default_str()
    ->check(CLI::Range(100, 3600000));
  app.add_option("--max-batch-wait-ms", env.max_batch_wait_ms,
                 "Node: longest time a batch stays open (dev: 50)")
    ->capture_default_str()
    ->check(CLI::Range(1, 60000));
  app.add_option("--max-in-flight", env.max_in_flight,
                 "Node: unacknowledged batches before ingress pauses (dev: 4)")
    ->capture_default_str()
    ->check(CLI::Range(1, 64));
  app.add_option("--max-batch-records", env.max_batch_records,
                 "Node: records per batch (default 2000)")
    ->capture_default_str()
    ->check(CLI::Range(1, 100000));
  std::string analytics = "on";
  app.add_option("--analytics", analytics,
                 "Node: [analytics] enabled; off measures the pipeline "
                 "without the event-time rollups (issue #10's A/B)")
    ->capture_default_str()
    ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--broker", broker,
                 "mock: librdkafka's mock cluster in this process; real: an "
                 "Apache Kafka broker started with scripts/kafka-broker.sh")
    ->capture_default_str()
    ->check(CLI::IsMember({"mock", "real"}));
  std::vector<std::string> consumer_properties;
  app.add_option("--consumer-property", consumer_properties,
                 "Node: a librdkafka property of its consumer, KEY=VALUE "
                 "(repeatable; over the embedded broker's fetch wait), e.g. "
                 "fetch.min.bytes=131072");
  app.add_flag("--find-sustainable", find_sustainable,
               "Step the offered load through --step-fractions of the "
               "backlog rate (one steady run of --step-window-s each) and "
               "report the highest sustainable one");
  app.add_option("--step-fractions", step_fractions,
                 "Offered loads for --find-sustainable, as fractions of the "
                 "backlog rate")
    ->capture_default_str()
    ->delimiter(',');
  app.add_option("--step-window-s", step_window_s,
                 "Length of each load step in seconds")
    ->capture_default_str()
    ->check(CLI::Range(5.0, 600.0));
  app.add_option("--max-cpu-ratio-file", cpu_ratio_file,
                 "File holding the recorded CPU-per-event ratio (pipeline / "
                 "components); exit 3 when this run's backlog ratio is worse "
                 "than twice that (the CI smoke run)");
  app.add_flag("--keep", keep,
               "Keep the work directory (with the last scenario's "
               "database: each scenario drops the one before's)");
  app.add_flag("--verbose", verbose, "agentmem's info logs on stderr");
  CLI11_PARSE(app, argc, argv);
  std::map<std::string, std::string> consumer_overrides;
  for (auto& kv : consumer_properties) {
    auto p = pipeline::parse_property_arg(kv, "--consumer-property");
    if (!p) {
      std::cerr << "--consumer-property: " << describe(p.error()) << "\n";
      return 2;
    }
    consumer_overrides[p->first] = p->second;
  }
  if (steady_events == 0 || steady_events > n_events)
    steady_events = n_events;
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);

  auto bench_t0 = clk::now();
  bool own_dir = data_dir.empty();
  if (own_dir) {
    std::string tmpl =
      (fs::temp_directory_path() / "agentmem-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::cerr << "mkdtemp failed\n";
      return 1;
    }
    data_dir = tmpl;
  } else {
    std::error_code ec;
    fs::create_directories(data_dir, ec);
    if (!fs::is_empty(data_dir, ec)) {
      std::cerr << "--data-dir " << data_dir << " is not empty\n";
      return 1;
    }
    data_dir = fs::absolute(data_dir).string();
  }
  log("work directory " + data_dir);

  report rep;
  rep.machine = machine_line();
  rep.allocator = pipeline::allocator_name();
  rep.load_start = loadavg();
  const double machine_cpu0 = machine_busy_cpu();
  // Own CPU includes reaped children (initdb, pg_ctl-like helpers).
  const double own_cpu0 = process_cpu() + process_cpu(RUSAGE_CHILDREN);
  rep.partitions = partitions;
  rep.users = users;
  env.analytics = analytics == "on";
  rep.node_settings =
    "snapshot_interval " + std::to_string(env.snapshot_interval_ms)
    + " ms, max_batch_records " + std::to_string(env.max_batch_records)
    + ", max_batch_wait " + std::to_string(env.max_batch_wait_ms)
    + " ms, max_in_flight " + std::to_string(env.max_in_flight)
    + ", embedding hashing 384-d, analytics rollups " + analytics;
  // As given: an "env:NAME" value is not printed resolved.
  for (auto& kv : consumer_properties)
    rep.node_settings += ", consumer " + kv;
  std::unique_ptr<storage::pg_cluster> pg;
  std::string kafka_dir; // --broker real: the broker's directory
  int rc = 0;
  try {
    // ---- 1. data --------------------------------------------------------------
    dataset d;
    {
      kafka::simulator_config sim;
      sim.users = users;
      sim.seed = seed;
      // ts spacing 1 ms; the last event is "now", so every ts is valid
      // (in the past, not beyond the decoder's 24 h future limit).
      sim.rate = 1000;
      sim.start_time_ms = wall_ms() - static_cast<int64_t>(n_events);
      auto t0 = clk::now();
      d.events = kafka::generate_events(sim, n_events);
      log("generated " + grouped(n_events) + " events in "
          + fixed(seconds(t0, clk::now()), 1) + " s");
    }
    for (auto& [k, v] : d.events)
      d.bytes += v.size();
    rep.events = d.events.size();
    rep.bytes = d.bytes;

    std::vector<activity> acts;
    rate_row decode_row = row_of("contract decode (simdjson, event_decoder)", "events");
    {
      domain::event_decoder dec;
      acts.resize(d.events.size());
      kafka_record rec;
      rec.source.topic = "bench";
      auto t0 = clk::now();
      double c0 = process_cpu();
      for (size_t i = 0; i < d.events.size(); ++i) {
        rec.key = d.events[i].first;
        rec.value = d.events[i].second;
        rec.source.offset = static_cast<int64_t>(i);
        if (auto err = dec.decode(rec, acts[i]))
          die("event " + std::to_string(i) + " rejected: " + err->code + ": "
              + err->detail);
      }
      decode_row.seconds = seconds(t0, clk::now());
      decode_row.cpu_s = process_cpu() - c0;
      decode_row.in_cpu_sum = true;
      decode_row.units = static_cast<double>(acts.size());
      decode_row.events_per_s = decode_row.unit_rate();
      decode_row.note = "1 thread, incl. copying key/value into a record";
    }
    for (auto& a : acts) {
      d.by_type[a.activity_class]++;
      d.event_ids.push_back(a.event_id);
    }
    rep.by_type = d.by_type;

    std::vector<memory> mems;
    rate_row extract_row = row_of(
      "extraction (domain::extract_memories, session summaries)", "events");
    {
      auto t0 = clk::now();
      double c0 = process_cpu();
      mems = derive_memories(acts, 50);
      extract_row.seconds = seconds(t0, clk::now());
      extract_row.cpu_s = process_cpu() - c0;
      extract_row.units = static_cast<double>(acts.size());
      extract_row.events_per_s = extract_row.unit_rate();
      extract_row.note = "1 thread, in-memory conversation buffer (the "
                         "pipeline's is RocksDB); not in the sum";
      log("derived " + grouped(mems.size()) + " memories in "
          + fixed(extract_row.seconds, 1) + " s");
    }
    // Every 10th event with a conversation memory: watched for in the
    // node's index by the steady runs (produce -> searchable).
    std::vector<std::pair<size_t, uint64_t>> conv_points; // (index, point)
    {
      std::unordered_map<std::string, uint64_t> first_conv;
      for (auto& m : mems)
        if (m.memory_type == "conversation")
          first_conv.try_emplace(m.event_id, m.point_id);
      size_t k = 0;
      for (size_t i = 0; i < acts.size(); ++i)
        if (auto it = first_conv.find(acts[i].event_id);
            it != first_conv.end() && k++ % 10 == 0)
          conv_points.push_back({i, it->second});
    }
    d.memories = mems.size();
    for (auto& m : mems)
      d.memories_by_type[m.memory_type]++;
    rep.memories = d.memories;
    rep.memories_by_type = d.memories_by_type;
    const double events_per_memory =
      static_cast<double>(d.events.size()) / std::max<size_t>(1, mems.size());

    rate_row embed_row = row_of("embedding (hashing_embedder, 384-d)", "texts");
    domain::hashing_embedder emb{384};
    {
      std::vector<std::string_view> texts;
      std::vector<std::vector<float>> out;
      auto t0 = clk::now();
      double c0 = process_cpu();
      for (size_t i = 0; i < mems.size(); i += 1000) {
        texts.clear();
        for (size_t j = i; j < std::min(mems.size(), i + 1000); ++j)
          texts.emplace_back(mems[j].text);
        must(emb.embed(texts, out), "embed");
        for (size_t j = 0; j < out.size(); ++j)
          mems[i + j].vector = std::move(out[j]);
      }
      embed_row.seconds = seconds(t0, clk::now());
      embed_row.cpu_s = process_cpu() - c0;
      embed_row.in_cpu_sum = true;
      embed_row.units = static_cast<double>(mems.size());
      embed_row.events_per_s = embed_row.unit_rate() * events_per_memory;
      embed_row.note = "1 thread";
    }

    // ---- infrastructure ---------------------------------------------------------
    env.root = data_dir;
    env.partitions = partitions;
    const std::string backlog_topic = "bench.backlog";
    const std::string steady_topic = "bench.steady";
    std::vector<kafka::topic_spec> topics = {
      {backlog_topic, partitions}, {steady_topic, partitions}, {"bench.dlq", 4}};
    auto repeat_topic = [&](int k) {
      return steady_topic + ".r" + std::to_string(k);
    };
    if (!skip_steady)
      for (int k = 2; k <= steady_repeats; ++k)
        topics.push_back({repeat_topic(k), partitions});
    if (find_sustainable)
      for (size_t k = 0; k < step_fractions.size(); ++k)
        topics.push_back({"bench.step" + std::to_string(k), partitions});
    std::unique_ptr<kafka::mock_cluster> mock;
    if (broker == "mock") {
      mock = must(kafka::mock_cluster::start(1, topics), "mock cluster");
      env.brokers = mock->bootstrap();
      env.kafka_properties = kafka::mock_cluster::consumer_properties();
    } else {
      kafka_dir = (fs::path{data_dir} / "kafka").string();
      env.brokers = start_real_broker(kafka_dir, topics);
    }
    for (auto& [k, v] : consumer_overrides)
      env.kafka_properties[k] = v;
    rep.broker = broker;
    env.pg_dir = (fs::path{data_dir} / "postgres").string();
    auto cpu_with_pg = [&] {
      return process_cpu() + std::max(0.0, postgres_cpu(env.pg_dir));
    };
    {
      auto t0 = clk::now();
      pg = must(storage::pg_cluster::start(env.pg_dir, 0), "postgres");
      // pg_stat_statements needs a restart (shared_preload_libraries).
      if (enable_pg_stat_statements(pg->url())) {
        must(pg->stop(), "postgres restart");
        pg = must(storage::pg_cluster::start(env.pg_dir, 0), "postgres");
      }
      log("postgres up in " + fixed(seconds(t0, clk::now()), 1) + " s");
    }
    env.admin_url = pg->url();

    // ---- the memory rows: COPY (the writer's other large write) ----------------------
    rate_row copy_mem_row = row_of(
      "PostgreSQL COPY of the memory rows (bytea vectors, binary), 1 transaction per "
      "2,000 events",
      "rows");
    {
      auto url = must(storage::pg_cluster::recreate_database(env.admin_url,
                                                             "bench_copy"),
                      "create database bench_copy");
      size_t chunk = std::max<size_t>(
        1, static_cast<size_t>(2000.0 / events_per_memory));
      double c0 = cpu_with_pg();
      copy_mem_row.seconds = copy_memories(url, mems, chunk);
      copy_mem_row.cpu_s = cpu_with_pg() - c0;
      copy_mem_row.in_cpu_sum = true;
      copy_mem_row.units = static_cast<double>(mems.size());
      copy_mem_row.events_per_s = copy_mem_row.unit_rate() * events_per_memory;
      copy_mem_row.note = "7 columns, PK on memory_id; synchronous_commit on";
    }

    // ---- vector_linking's other write: RocksDB docs ------------------------------------
    rate_row docs_row = row_of("RocksDB hot_state::put_docs (vector_linking's other write)",
                               "docs");
    {
      auto hot = must(storage::hot_state::open(
                        (fs::path{data_dir} / "standalone-rocksdb").string(), 50),
                      "hot state");
      size_t chunk = std::max<size_t>(
        1, static_cast<size_t>(2000.0 / events_per_memory));
      std::vector<memory> part;
      clk::duration busy{};
      double cpu = 0;
      for (size_t i = 0; i < mems.size(); i += chunk) {
        part.assign(mems.begin() + i,
                    mems.begin() + std::min(mems.size(), i + chunk));
        auto t0 = clk::now();
        double c0 = process_cpu();
        must(hot->put_docs(part, "memory_seq", static_cast<int64_t>(i)),
             "put_docs");
        cpu += process_cpu() - c0;
        busy += clk::now() - t0;
      }
      docs_row.seconds = std::chrono::duration<double>(busy).count();
      docs_row.cpu_s = cpu;
      docs_row.in_cpu_sum = true;
      docs_row.units = static_cast<double>(mems.size());
      docs_row.events_per_s = docs_row.unit_rate() * events_per_memory;
      docs_row.note = "1 thread, WriteBatch per ~2,000-event batch, WAL on";
    }
    fs::remove_all(fs::path{data_dir} / "standalone-rocksdb");

    // ---- 2c. hnswlib -----------------------------------------------------------------
    // Inserts all memories in chunks the size of the pipeline's memories
    // per 2,000-event batch, with `threads` inserting threads, into a fresh
    // index in `dir`; fills the row's rate and CPU; returns the index.
    auto insert_all = [&](rate_row& row, size_t threads,
                          const std::string& dir) {
      storage::vector_index_config icfg;
      icfg.dims = emb.dims();
      icfg.model = emb.model();
      icfg.insert_threads = threads;
      auto index = must(storage::vector_index::open(
                          (fs::path{data_dir} / dir).string(), icfg),
                        "vector index");
      size_t chunk = std::max<size_t>(
        1, static_cast<size_t>(2000.0 / events_per_memory));
      std::vector<memory> part;
      clk::duration busy{};
      size_t added = 0;
      double c0 = process_cpu();
      for (size_t i = 0; i < mems.size(); i += chunk) {
        part.assign(mems.begin() + i,
                    mems.begin() + std::min(mems.size(), i + chunk));
        auto t0 = clk::now();
        added += must(index->upsert(part), "upsert");
        busy += clk::now() - t0;
      }
      row.cpu_s = process_cpu() - c0;
      row.seconds = std::chrono::duration<double>(busy).count();
      row.units = static_cast<double>(added);
      row.events_per_s = row.unit_rate() * events_per_memory;
      return index;
    };
    rate_row hnsw1_row = row_of(
      "hnswlib insert, 1 thread (vector_index::upsert, M=16, efC=100)",
      "vectors");
    insert_all(hnsw1_row, 1, "standalone-index1");
    hnsw1_row.note = std::string{"kernels: "}
                     + storage::to_string(storage::detected_simd_level());
    fs::remove_all(fs::path{data_dir} / "standalone-index1");
    trim_heap();
    rate_row hnsw_row = row_of(
      "hnswlib insert, 2 threads (vector_index::upsert, M=16, efC=100)",
      "vectors");
    {
      long rss0 = status_kb("VmRSS");
      auto index = insert_all(hnsw_row, 2, "standalone-index");
      trim_heap();
      rep.index_rss_kb = status_kb("VmRSS") - rss0;
      size_t added = static_cast<size_t>(hnsw_row.units);
      hnsw_row.in_cpu_sum = true;
      hnsw_row.standalone_core = true;
      hnsw_row.note = "0 -> " + grouped(added) + " points, "
                      + fixed(events_per_memory, 3) + " events per memory";
      log("hnswlib: " + grouped(hnsw_row.unit_rate()) + " vectors/s");
      // What one snapshot costs at this size: vector_linking saves the
      // index every snapshot_interval (5 s in `agentmem dev`).
      auto t1 = clk::now();
      must(index->save(1), "index snapshot");
      rep.snapshot_s = seconds(t1, clk::now());
      rep.snapshot_points = added;
      std::error_code ec;
      for (auto& e : fs::recursive_directory_iterator(
             fs::path{data_dir} / "standalone-index", ec))
        if (e.is_regular_file(ec))
          rep.snapshot_bytes += e.file_size(ec);
    }
    fs::remove_all(fs::path{data_dir} / "standalone-index");
    trim_heap();
    {
      // The index's own size in the node's layout, measured in a child
      // process (fork) so that its allocations do not change this
      // process's heap (glibc raises its mmap threshold to the largest
      // chunk freed) before the pipeline runs: (1) a BM25 keyword index of
      // the memories, (2) the same memories in shards as the node holds
      // them (one graph and one keyword index per partition, created for
      // pipeline::shard_initial_capacity points; users spread over the
      // partitions by hash). Each is RSS after minus before, trimmed.
      int fds[2];
      if (::pipe(fds) != 0)
        die("pipe");
      std::cout.flush();
      std::cerr.flush();
      pid_t child = ::fork();
      if (child < 0)
        die("fork");
      if (child == 0) {
        ::close(fds[0]);
        long out[3] = {0, 0, 0};
        // The memories in batches of ~2,000 events, as the node gets them;
        // false from `add` stops.
        auto in_batches = [&](auto&& add) {
          size_t chunk = std::max<size_t>(
            1, static_cast<size_t>(2000.0 / events_per_memory));
          std::vector<memory> part;
          bool ok = true;
          for (size_t i = 0; ok && i < mems.size(); i += chunk) {
            part.assign(mems.begin() + i,
                        mems.begin() + std::min(mems.size(), i + chunk));
            ok = add(part);
          }
          return ok;
        };
        {
          long rss0 = status_kb("VmRSS");
          auto kw = storage::keyword_index::open("");
          if (kw) {
            in_batches([&](std::vector<memory>& part) {
              (*kw)->upsert(part);
              return true;
            });
            trim_heap();
            out[0] = status_kb("VmRSS") - rss0;
          }
        }
        trim_heap();
        {
          long rss0 = status_kb("VmRSS");
          storage::shard_set_config scfg;
          scfg.dir = (fs::path{data_dir} / "standalone-shards").string();
          scfg.vectors.dims = emb.dims();
          scfg.vectors.model = emb.model();
          scfg.vectors.initial_capacity = pipeline::shard_initial_capacity;
          storage::shard_set shards{scfg};
          bool ok = true;
          for (int32_t p = 0; p < partitions; ++p)
            ok = ok && static_cast<bool>(shards.open(p));
          ok = ok && in_batches([&](std::vector<memory>& part) {
            for (auto& m : part)
              m.partition = static_cast<int32_t>(
                std::hash<std::string>{}(m.user_id)
                % static_cast<size_t>(partitions));
            return static_cast<bool>(shards.upsert(part));
          });
          trim_heap();
          if (ok) {
            out[1] = status_kb("VmRSS") - rss0;
            out[2] = static_cast<long>(shards.size());
          }
        }
        auto w = ::write(fds[1], out, sizeof out);
        ::_exit(w == static_cast<ssize_t>(sizeof out) ? 0 : 1);
      }
      ::close(fds[1]);
      long in[3] = {0, 0, 0};
      size_t got = 0;
      while (got < sizeof in) {
        auto n = ::read(fds[0], reinterpret_cast<char*>(in) + got,
                        sizeof in - got);
        if (n <= 0)
          break;
        got += static_cast<size_t>(n);
      }
      ::close(fds[0]);
      int status = 0;
      ::waitpid(child, &status, 0);
      if (got == sizeof in) {
        rep.keywords_rss_kb = in[0];
        rep.shards_rss_kb = in[1];
        rep.shards_points = static_cast<size_t>(in[2]);
      } else {
        log("memory breakdown: the index measurement (child process) failed");
      }
    }
    fs::remove_all(fs::path{data_dir} / "standalone-shards");
    // The repeated backlog runs insert them again (their reference).
    if (backlog_repeats <= 1) {
      mems.clear();
      mems.shrink_to_fit();
      trim_heap();
    }

    // ---- 2b. COPY ----------------------------------------------------------------------
    rate_row copy_row = row_of("PostgreSQL COPY (storage::detail::copy_writer, as the writer), 1 transaction", "rows");
    rate_row copy_batched = row_of("PostgreSQL COPY, 1 transaction per 2,000 rows", "rows");
    {
      auto url = must(storage::pg_cluster::recreate_database(env.admin_url,
                                                             "bench_copy"),
                      "create database bench_copy");
      double c0 = cpu_with_pg();
      copy_row.seconds = copy_rows(url, acts, 0, "copy_activities");
      copy_row.cpu_s = cpu_with_pg() - c0;
      copy_row.units = static_cast<double>(acts.size());
      copy_row.events_per_s = copy_row.unit_rate();
      copy_row.standalone_core = true;
      copy_row.note = "8 columns incl. raw jsonb, PK on event_id";
      c0 = cpu_with_pg();
      copy_batched.seconds = copy_rows(url, acts, 2000, "copy_activities");
      copy_batched.cpu_s = cpu_with_pg() - c0;
      copy_batched.in_cpu_sum = true;
      copy_batched.units = static_cast<double>(acts.size());
      copy_batched.events_per_s = copy_batched.unit_rate();
      copy_batched.note = "same rows; synchronous_commit on";
      log("COPY: " + grouped(copy_row.unit_rate()) + " rows/s");
      must(storage::pg_cluster::drop_database(env.admin_url, "bench_copy"),
           "drop database bench_copy");
    }
    acts.clear();
    acts.shrink_to_fit();
    trim_heap();

    // ---- 2a. Kafka -------------------------------------------------------------------
    rate_row produce_row = row_of("librdkafka idempotent produce (mock broker)", "records");
    rate_row consume_row = row_of("librdkafka consumer, fresh group (kafka::consumer)", "records");
    {
      double c0 = process_cpu();
      auto pr = produce_all(env.brokers, backlog_topic, d);
      produce_row.cpu_s = process_cpu() - c0;
      if (pr.delivered != d.events.size())
        die("produced " + std::to_string(pr.delivered) + " of "
            + std::to_string(d.events.size()));
      produce_row.seconds = pr.seconds;
      produce_row.units = static_cast<double>(pr.delivered);
      produce_row.events_per_s = produce_row.unit_rate();
      produce_row.note = "message sets of "
                         + std::to_string(backlog_msgset_records)
                         + " records, incl. flush";
      c0 = process_cpu();
      auto cr = consume_all(env.brokers, backlog_topic, "bench-bare-consumer",
                            d.events.size());
      consume_row.cpu_s = process_cpu() - c0;
      consume_row.in_cpu_sum = true;
      if (cr.records != d.events.size() || cr.max_first_offset != 0)
        die("the mock broker lost records: read " + std::to_string(cr.records)
            + " of " + std::to_string(d.events.size())
            + " (highest first offset of a partition "
            + std::to_string(cr.max_first_offset)
            + "); use more --partitions or --users");
      consume_row.seconds = cr.read_s;
      consume_row.units = static_cast<double>(cr.records);
      consume_row.events_per_s = consume_row.unit_rate();
      consume_row.standalone_core = true;
      consume_row.note = "after the first record (group join "
                         + fixed(cr.join_s, 1) + " s excluded); "
                         + std::to_string(cr.partitions_seen)
                         + " partitions; count verified";
      log("consumer: " + grouped(consume_row.unit_rate()) + " records/s, all "
          + grouped(cr.records) + " read back");
    }
    rep.rows = {consume_row,  copy_row,     hnsw_row,    produce_row,
                decode_row,   docs_row,     embed_row,   copy_batched,
                copy_mem_row, extract_row,  hnsw1_row};

    // ---- 3a. backlog ---------------------------------------------------------------------
    log("backlog: pipeline draining " + grouped(d.events.size())
        + " pre-produced events");
    rep.backlog = run_scenario(env, "backlog", backlog_topic, d.events.size(),
                               {}, 0, {});
    // Every later scenario drops the database of the one before it first:
    // kept, its tables (200,000 events: hundreds of MB) were vacuumed and
    // analysed by autovacuum while the next scenario ran, on the same two
    // cores (a second backlog run cost 27-34 % more CPU per event;
    // docs/performance.md, twentieth round). The node's own database is
    // vacuumed during its run all the same.
    std::string previous = "backlog"; // the scenario run last
    auto drop_previous_database = [&](const std::string& next) {
      must(storage::pg_cluster::drop_database(env.admin_url,
                                              scenario_database(previous)),
           "drop database " + scenario_database(previous));
      previous = next;
    };
    if (rep.backlog.ok)
      log("backlog: " + grouped(rep.backlog.events_per_s) + " events/s");
    for (int k = 2; k <= backlog_repeats && rep.backlog.ok; ++k) {
      const auto n = std::to_string(k);
      drop_previous_database("backlog_r" + n);
      rate_row ref = row_of("hnswlib insert, 2 threads, run " + n, "vectors");
      insert_all(ref, 2, "standalone-index-r" + n); // the index goes at once
      fs::remove_all(fs::path{data_dir} / ("standalone-index-r" + n));
      trim_heap();
      auto r = run_scenario(env, "backlog_r" + n, backlog_topic,
                            d.events.size(), {}, 0, {});
      rep.backlog_repeats.emplace_back(r, ref.events_per_s);
      log("backlog run " + n + ": " + grouped(r.events_per_s)
          + " events/s, hnswlib (2 threads) "
          + grouped(ref.events_per_s) + " events/s");
    }

    // ---- 3b. steady ----------------------------------------------------------------------
    // A producer thread publishes `n` events at `rate` events/s into
    // `topic` while the pipeline consumes; per-event latency produce ->
    // row, sampled produce -> searchable.
    auto run_steady = [&](const std::string& name, const std::string& topic,
                          double rate, size_t n) {
      // Warm-up events (another seed: other event ids) let the node join
      // its group before the timed events start.
      kafka::simulator_config wsim;
      wsim.users = users;
      wsim.seed = seed + 7919;
      wsim.rate = 1000;
      wsim.start_time_ms = wall_ms() - 500;
      auto warm = kafka::generate_events(wsim, 500);
      std::vector<int64_t> produced_us(n, 0);
      std::atomic<size_t> steady_produced{0};
      auto warmup = [&] {
        auto prod = must(kafka::producer::create(env.brokers), "producer");
        for (auto& [k, v] : warm)
          must(prod->produce(topic, k, v, {}, steady_partition(k, partitions)),
               "produce");
        must(prod->flush(std::chrono::seconds(30)), "flush");
      };
      auto feed = [&]() -> feed_times {
        feed_times ft;
        auto threads_before = thread_cpu();
        auto prod = must(kafka::producer::create(env.brokers), "producer");
        auto period = std::chrono::duration<double>(1.0 / rate);
        // The feed wakes at most every 5 ms and publishes what is due by
        // then (each record's produce time is taken when it is published):
        // a wake-up per record (2,000 a second at 50 %) cost this process
        // -- the measured one -- more CPU than the produce calls.
        constexpr auto tick = std::chrono::milliseconds(5);
        ft.first = clk::now();
        auto woke = ft.first;
        for (size_t i = 0; i < n; ++i) {
          auto due = ft.first
                     + std::chrono::duration_cast<clk::duration>(period * i);
          if (clk::now() < due) {
            std::this_thread::sleep_until(std::max(due, woke + tick));
            woke = clk::now();
          }
          produced_us[i] = wall_us();
          auto& [key, value] = d.events[i];
          if (auto err = prod->produce(topic, key, value, {},
                                       steady_partition(key, partitions))) {
            log(name + " produce: " + describe(err));
            break;
          }
          ft.produced = i + 1;
          steady_produced = i + 1;
        }
        ft.last = clk::now();
        if (auto err = prod->flush(std::chrono::seconds(60)))
          log(name + " flush: " + describe(err));
        ft.producer_cpu_s = new_rdkafka_threads_cpu(threads_before,
                                                    thread_cpu());
        return ft;
      };
      searchable_probe sp;
      for (auto& [i, point] : conv_points)
        if (i < n)
          sp.events.push_back(
            {i, point, steady_partition(d.events[i].first, partitions)});
      sp.produced_us = &produced_us;
      log(name + ": publishing " + grouped(n) + " events at " + grouped(rate)
          + " events/s while the pipeline consumes");
      drop_previous_database(name);
      auto r = run_scenario(env, name, topic, n + warm.size(), warmup,
                            warm.size(), feed, &steady_produced, &sp);
      r.target_rate = rate;
      if (r.ok) {
        std::unordered_map<std::string, int64_t> by_id;
        by_id.reserve(n);
        for (size_t i = 0; i < n; ++i)
          by_id.emplace(d.event_ids[i], produced_us[i]);
        event_latencies(
          storage::pg_cluster::with_database(env.admin_url,
                                             scenario_database(name)),
          by_id, r);
        log(name + ": p99 produce -> row " + ms_or_na(r.lat_p99_ms)
            + ", p99 produce -> searchable "
            + ms_or_na(quantile_of(r.searchable_ms, 0.99)));
      }
      return r;
    };
    if (!skip_steady && rep.backlog.ok) {
      double rate = steady_rate > 0 ? steady_rate
                                    : steady_fraction * rep.backlog.events_per_s;
      rep.steady = run_steady("steady", steady_topic, rate, steady_events);
      for (int k = 2; k <= steady_repeats && rep.steady.ok; ++k)
        rep.steady_repeats.push_back(run_steady(
          "steady_r" + std::to_string(k), repeat_topic(k), rate,
          steady_events));
      if (rep.steady.ok && broker == "mock") {
        // The same consumer as in (a), on the topic the steady producer
        // wrote record by record: the mock broker returns one message set
        // per partition per fetch, so small message sets cap the rate.
        log("steady topic: bare consumer, fresh group");
        size_t total = rep.steady.events + 500;
        auto cr = consume_all(env.brokers, steady_topic, "bench-bare-steady",
                              total, std::chrono::seconds(90));
        rate_row row = row_of(
          "librdkafka consumer, fresh group, topic written by the steady "
          "producer",
          "records");
        row.seconds = cr.read_s;
        row.units = static_cast<double>(cr.records);
        row.events_per_s = row.unit_rate();
        row.note = "read " + grouped(cr.records) + " of " + grouped(total)
                   + (cr.records < total ? " (stopped after 90 s)" : "")
                   + "; ~1 record per message set (linger.ms=5 over "
                   + std::to_string(partitions) + " partitions)";
        rep.rows.push_back(row);
      }
    } else {
      rep.steady.name = "steady";
      rep.steady.error = skip_steady ? "skipped" : "backlog failed";
    }
    // ---- 3c. stepped offered load ------------------------------------------------------
    if (find_sustainable && rep.backlog.ok) {
      rep.step_window_s = step_window_s;
      for (size_t k = 0; k < step_fractions.size(); ++k) {
        double f = step_fractions[k];
        double rate = f * rep.backlog.events_per_s;
        size_t n = std::min(d.events.size(),
                            static_cast<size_t>(rate * step_window_s));
        auto r = run_steady("step" + std::to_string(k),
                            "bench.step" + std::to_string(k), rate, n);
        bool ok = sustainable(r);
        rep.steps.push_back({f, std::move(r)});
        if (!ok && f >= 0.9)
          break; // the next steps would not be sustainable either
      }
    }
    if (!rep.backlog.ok || (!skip_steady && !rep.steady.ok))
      rc = 2;
    for (auto& r : rep.steady_repeats)
      if (!r.ok)
        rc = 2;
    {
      // The whole registry, for reference.
      std::ofstream f{fs::path{data_dir} / "metrics.prom"};
      f << metrics::global().render();
    }
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    rep.process_peak_kb = ru.ru_maxrss;
    rep.bench_seconds = seconds(bench_t0, clk::now());
    rep.load_end = loadavg();
    rep.others_cpu_s = machine_busy_cpu() - machine_cpu0
                       - (process_cpu() + process_cpu(RUSAGE_CHILDREN)
                          - own_cpu0)
                       - std::max(0.0, postgres_cpu(env.pg_dir));
    std::cout << "agentmem pipeline_bench (" << fixed(rep.bench_seconds, 0)
              << " s)\n";
    print_report(std::cout, rep, false);
    std::cout << "\n---- Markdown ----\n";
    print_report(std::cout, rep, true);
    std::cout.flush();
    if (!cpu_ratio_file.empty() && rep.backlog.ok) {
      std::ifstream f{cpu_ratio_file};
      double recorded = 0;
      // The first number in the file (comments may follow it).
      if (!(f >> recorded) || recorded <= 0)
        die("cannot read a ratio from " + cpu_ratio_file);
      double ratio = pipeline_cpu_us(rep.backlog) / components_cpu_us(rep);
      std::cout << "CPU per event ratio " << fixed(ratio, 3) << ", recorded "
                << fixed(recorded, 3) << ", limit " << fixed(2 * recorded, 3)
                << ": " << (ratio <= 2 * recorded ? "OK" : "REGRESSION")
                << "\n";
      if (!(ratio <= 2 * recorded))
        rc = 3;
    }
    mock.reset();
  } catch (const std::exception& e) {
    std::cerr << "pipeline_bench: " << e.what() << std::endl;
    rc = 1;
  }
  if (pg) {
    if (auto err = pg->stop())
      log("postgres stop: " + describe(err));
    pg.reset();
  }
  if (!kafka_dir.empty())
    stop_real_broker(kafka_dir);
  if (own_dir && !keep) {
    std::error_code ec;
    fs::remove_all(data_dir, ec);
  } else {
    log("kept " + data_dir);
  }
  return rc;
}
