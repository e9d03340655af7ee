// alexnet-mqtt-summary: subscribes to alexnetpublish's messages on an MQTT broker and prints a
// summary per stream every few seconds: frames received, repeats dropped (qos 1 delivers at
// least once: a (source, seq) seen before is a repeat), frames missing (gaps in seq), the
// rate, and the last frame's top label; with alexnetpublish add-stats=true, also the latest
// stats: the classifier's p95 latency and the messages the publisher dropped.
//
//   alexnet-mqtt-summary [--address HOST[:PORT]] [--topic 'alexnet/#'] [--qos 1]
//                        [--every SECONDS] [--frames N]
//
//   cam1.mp4: 750 frames (0 repeats, 0 missing), 25.0/s, last: Pullover 0.91
//   cam2.mp4: 740 frames (3 repeats, 0 missing), 25.0/s, last: Coat 0.64, p95 41.2 ms, 0 dropped
//
// --frames N: exit 0 once N distinct frames (all streams) have arrived. Exit 1 when the broker
// cannot be reached, 2 for a bad argument.
#include <mosquitto.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

namespace {

struct Stream {
  std::set<uint64_t> seqs;
  uint64_t repeats = 0, max_seq = 0;
  std::string last_label;
  double last_score = 0;
  double p95_ms = -1;    // from the latest stats object; -1 = none yet
  uint64_t dropped = 0;  // the publisher's drops, from the same
};

std::mutex g_mu;
std::map<std::string, Stream> g_streams;
uint64_t g_bad = 0;

void on_message(mosquitto*, void*, const mosquitto_message* m) {
  try {
    const auto j = nlohmann::json::parse(static_cast<const char*>(m->payload),
                                         static_cast<const char*>(m->payload) + m->payloadlen);
    const std::string type = j.value("type", "");
    if (type != "frame" && type != "stats") return;
    std::lock_guard<std::mutex> lock(g_mu);
    Stream& s = g_streams[j.at("source").get<std::string>()];
    if (type == "stats") {
      s.p95_ms = j.at("stats").value("p95-latency-us", 0.0) / 1000;
      s.dropped = j.at("publish").value("dropped", uint64_t{0});
      return;
    }
    const uint64_t seq = j.at("seq").get<uint64_t>();
    if (!s.seqs.insert(seq).second) {
      ++s.repeats;
      return;
    }
    s.max_seq = std::max(s.max_seq, seq);
    const nlohmann::json* r = j.contains("results") ? &j["results"] : nullptr;
    if (!r && j.contains("objects") && !j["objects"].empty()) r = &j["objects"][0]["results"];
    if (r && !r->empty()) {
      s.last_label = (*r)[0].value("label", "");
      s.last_score = (*r)[0].value("score", 0.0);
    }
  } catch (const std::exception&) {
    std::lock_guard<std::mutex> lock(g_mu);
    ++g_bad;  // not one of ours
  }
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "alexnet-mqtt-summary: %s\nusage: alexnet-mqtt-summary [--address HOST[:PORT]] "
               "[--topic TOPIC] [--qos 0|1|2] [--every SECONDS] [--frames N]\n",
               why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:1883", topic = "alexnet/#";
  int qos = 1;
  double every = 2;
  uint64_t frames = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("option '" + a + "' needs a value");
    const std::string v = argv[++i];
    char* end = nullptr;
    if (a == "--address")
      address = v;
    else if (a == "--topic")
      topic = v;
    else if (a == "--qos" &&
             (qos = static_cast<int>(std::strtol(v.c_str(), &end, 10)), *end == 0) && qos >= 0 &&
             qos <= 2) {
    } else if (a == "--every" && (every = std::strtod(v.c_str(), &end), *end == 0) && every > 0) {
    } else if (a == "--frames" && (frames = std::strtoull(v.c_str(), &end, 10), *end == 0)) {
    } else
      usage("bad option or value: " + a + " " + v);
  }
  std::string host = address;
  int port = 1883;
  if (const size_t colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
    port = std::atoi(address.c_str() + colon + 1);
    if (port < 1 || port > 65535) usage("--address " + address + ": bad port");
  }
  mosquitto_lib_init();
  mosquitto* m = mosquitto_new(nullptr, true, nullptr);
  mosquitto_message_callback_set(m, on_message);
  mosquitto_connect_callback_set(m, [](mosquitto* mm, void* t, int rc) {
    if (rc == 0) mosquitto_subscribe(mm, nullptr, static_cast<const char*>(t), 1);
  });
  mosquitto_user_data_set(m, const_cast<char*>(topic.c_str()));
  if (const int rc = mosquitto_connect(m, host.c_str(), port, 30); rc != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "alexnet-mqtt-summary: cannot connect to %s: %s\n", address.c_str(),
                 mosquitto_strerror(rc));
    return 1;
  }
  mosquitto_loop_start(m);
  std::map<std::string, uint64_t> before;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::duration<double>(every));
    std::lock_guard<std::mutex> lock(g_mu);
    uint64_t total = 0;
    for (const auto& [source, s] : g_streams) {
      const uint64_t n = s.seqs.size();
      std::printf(
          "%s: %llu frames (%llu repeats, %llu missing), %.1f/s, last: %s %.2f", source.c_str(),
          static_cast<unsigned long long>(n), static_cast<unsigned long long>(s.repeats),
          static_cast<unsigned long long>(n > 0 ? s.max_seq + 1 - n : 0),
          static_cast<double>(n - before[source]) / every, s.last_label.c_str(), s.last_score);
      if (s.p95_ms >= 0)
        std::printf(", p95 %.1f ms, %llu dropped", s.p95_ms,
                    static_cast<unsigned long long>(s.dropped));
      std::printf("\n");
      before[source] = n;
      total += n;
    }
    std::fflush(stdout);
    if (frames > 0 && total >= frames) break;
  }
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, true);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  return 0;
}
