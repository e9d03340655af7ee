// alexnetpublish method=mqtt (issue 19) against a real broker: Debian's mosquitto, started by
// the test on 127.0.0.1 with a free port and a config file of its own, stopped at the end.
// A subscriber (libmosquitto, persistent session) collects what arrives.
//  - every frame of a real pipeline arrives, in order, each (source, seq) once at qos 1, the
//    fields equal to the element's meta;
//  - the broker stopped with SIGTERM mid-stream and restarted (persistence on): with
//    on-full=block every seq arrives; with drop-oldest and a small queue, the drop count is
//    exact (every seq either arrives or is counted dropped);
//  - a wrong password, a refused connection, a malformed address and an unreadable TLS file
//    are errors at start naming what is wrong.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "element_harness.h"
#include "gstalexnetmeta.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace element_test;

[[maybe_unused]] ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new GstEnvironment);

namespace {

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

// mosquitto on 127.0.0.1:port with its own config (persistence in its own folder).
class Broker {
 public:
  explicit Broker(const std::string& extra = "") : port_(free_port()) {
    dir_ = fs::path(files().a).parent_path() / ("broker-" + std::to_string(port_));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf")
        << "listener " << port_
        << " 127.0.0.1\n"
        // Started as root (CI), mosquitto would switch to the user "mosquitto", who cannot
        // read or write this test's private folder; as anyone else the line is ignored.
        << "user root\n"
        << "persistence true\npersistence_location " << dir_.string() << "/\n"
        << "log_dest file " << (dir_ / "mosquitto.log").string() << "\n"
        << (extra.empty() ? "allow_anonymous true\n" : extra);
    start();
  }
  ~Broker() { stop(); }
  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      execlp("mosquitto", "mosquitto", "-c", (dir_ / "mosquitto.conf").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  void stop() {  // SIGTERM: mosquitto saves its persistence file and exits
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  const fs::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0 && port_open(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
  fs::path dir_;
};

// A persistent-session subscriber to alexnet/# at qos 1; keeps every payload in order.
class Subscriber {
 public:
  explicit Subscriber(int port) {
    mosquitto_lib_init();
    m_ = mosquitto_new(("sub-" + std::to_string(port)).c_str(), false, this);
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* me = static_cast<Subscriber*>(self);
      std::lock_guard<std::mutex> lock(me->mu_);
      me->topics_.push_back(msg->topic);
      me->got_.emplace_back(static_cast<const char*>(msg->payload), msg->payloadlen);
    });
    mosquitto_connect_callback_set(m_, [](mosquitto* m, void*, int rc) {
      if (rc == 0) mosquitto_subscribe(m, nullptr, "alexnet/#", 1);
    });
    mosquitto_reconnect_delay_set(m_, 1, 1, false);
    EXPECT_EQ(mosquitto_connect(m_, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    mosquitto_loop_start(m_);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscribed
  }
  ~Subscriber() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
  }
  std::vector<json> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    for (const std::string& p : got_) out.push_back(json::parse(p));
    return out;
  }
  std::vector<std::string> topics() {
    std::lock_guard<std::mutex> lock(mu_);
    return topics_;
  }
  // Waits until `n` distinct frame seq have arrived (or the timeout); returns their count.
  size_t wait_for(size_t n, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    size_t distinct = 0;
    while (std::chrono::steady_clock::now() < end) {
      std::set<uint64_t> seqs;
      for (const json& j : messages())
        if (j.at("type") == "frame") seqs.insert(j.at("seq").get<uint64_t>());
      distinct = seqs.size();
      if (distinct >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return distinct;
  }

  // Waits for a stats object whose stats.frames is `frames` (the one at EOS); null on timeout.
  json wait_for_stats(uint64_t frames, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      for (const json& j : messages())
        if (j.at("type") == "stats" && j.at("stats").at("frames") == frames) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return json();
  }

 private:
  mosquitto* m_ = nullptr;
  std::mutex mu_;
  std::vector<std::string> got_, topics_;
};

struct Seen {
  std::vector<int> ids;
  std::vector<float> scores;
};

GstPadProbeReturn collect(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* seen = static_cast<std::vector<Seen>*>(data);
  Seen s;
  if (GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(GST_PAD_PROBE_INFO_BUFFER(info)))
    for (guint i = 0; i < m->n; ++i) {
      s.ids.push_back(m->ids[i]);
      s.scores.push_back(m->scores[i]);
    }
  seen->push_back(std::move(s));
  return GST_PAD_PROBE_OK;
}

// While a pipeline plays: 0.8 s in, the broker is stopped (SIGTERM) for 1.5 s, then started
// again on the same port.
std::function<void()> broker_away(Broker& broker) {
  return [&broker] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    broker.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    broker.start();
  };
}

std::string classify(int frames, const std::string& live = "") {
  return "videotestsrc num-buffers=" + std::to_string(frames) + " pattern=ball " + live +
         " ! video/x-raw,format=RGB,width=64,height=48,framerate=50/1 ! alexnetclassify model=" +
         files().a + " threads=1 ! ";
}

}  // namespace

TEST(Mqtt, EveryFrameArrivesInOrderOnceWithTheElementsResults) {
  Broker broker;
  ASSERT_TRUE(broker.running()) << "mosquitto did not start (Debian package mosquitto)";
  Subscriber sub(broker.port());
  std::vector<Seen> seen;
  ASSERT_EQ(run_pipeline(classify(50) +
                             "alexnetpublish method=mqtt qos=1 source=cam1 address=127.0.0.1:" +
                             std::to_string(broker.port()) + " ! fakesink name=out",
                         collect, &seen),
            "");
  ASSERT_EQ(sub.wait_for(50, 20), 50u);
  const std::vector<json> got = sub.messages();
  ASSERT_EQ(got.size(), 50u) << "each (source, seq) exactly once on a clean run";
  ASSERT_EQ(seen.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i));
    EXPECT_EQ(got[i].at("source"), "cam1");
    EXPECT_EQ(got[i].at("seq").get<uint64_t>(), i);  // in order
    const json& r = got[i].at("results");
    ASSERT_EQ(r.size(), seen[i].ids.size());
    for (size_t k = 0; k < r.size(); ++k) {
      EXPECT_EQ(r[k].at("id").get<int>(), seen[i].ids[k]);
      EXPECT_EQ(r[k].at("score").get<float>(), seen[i].scores[k]);
    }
  }
  EXPECT_EQ(sub.topics().front(), "alexnet/cam1/frame");
}

TEST(Mqtt, BrokerRestartedMidStreamLosesNothingWithBlock) {
  Broker broker;
  ASSERT_TRUE(broker.running());
  Subscriber sub(broker.port());
  const int n = 150;  // 3 s live at 50 frames/s; the broker is away for about 1.5 s of it
  ASSERT_EQ(
      run_pipeline(
          classify(n, "is-live=true") +
              "alexnetpublish method=mqtt qos=1 source=cam2 max-queued=1000 address=127.0.0.1:" +
              std::to_string(broker.port()) + " ! fakesink name=out",
          nullptr, nullptr, broker_away(broker)),
      "");
  EXPECT_EQ(sub.wait_for(n, 30), static_cast<size_t>(n)) << "every seq arrives";
  // In order per source: the first arrival of each seq comes after the one before it.
  std::vector<uint64_t> first;
  std::set<uint64_t> have;
  for (const json& j : sub.messages()) {
    const uint64_t s = j.at("seq").get<uint64_t>();
    if (have.insert(s).second) first.push_back(s);
  }
  for (size_t i = 1; i < first.size(); ++i) EXPECT_LT(first[i - 1], first[i]) << "at " << i;
}

TEST(Mqtt, DropOldestCountsExactlyWhatIsLost) {
  Broker broker;
  ASSERT_TRUE(broker.running());
  Subscriber sub(broker.port());
  // 6 s live: the broker is away from 0.8 s to 2.3 s, and the element is back by 4.3 s at the
  // latest (its reconnects: +0.5, +1, +2 s), so the stats at EOS find the queue flowing.
  const int n = 300;
  GstElement* pub = nullptr;
  ASSERT_EQ(run_pipeline(classify(n, "is-live=true") +
                             "alexnetpublish name=pub method=mqtt qos=1 source=cam3 max-queued=5 "
                             "on-full=drop-oldest add-stats=true address=127.0.0.1:" +
                             std::to_string(broker.port()) + " ! fakesink name=out",
                         nullptr, nullptr, broker_away(broker), &pub),
            "");
  guint64 dropped = 0;
  ASSERT_NE(pub, nullptr);
  g_object_get(pub, "dropped", &dropped, nullptr);
  gst_object_unref(pub);
  EXPECT_GT(dropped, 0u) << "the broker was away for ~75 frames and the queue holds 5";
  const size_t distinct = sub.wait_for(n - dropped, 30);
  EXPECT_EQ(distinct + dropped, static_cast<size_t>(n))
      << distinct << " arrived, " << dropped << " counted as dropped";
  // The stats at EOS report the same count, on the stats topic.
  const json last_stats = sub.wait_for_stats(n, 30);
  ASSERT_FALSE(last_stats.is_null()) << "add-stats=true: the stats at EOS arrive";
  EXPECT_EQ(last_stats.at("publish").at("dropped").get<uint64_t>(), dropped);
  EXPECT_EQ(last_stats.at("publish").at("frames"), n);
  EXPECT_TRUE(last_stats.at("publish").at("connected").get<bool>());
  EXPECT_LE(last_stats.at("publish").at("queued").get<uint64_t>(), 5u);  // max-queued
  const std::vector<json> got = sub.messages();
  const std::vector<std::string> topics = sub.topics();
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].at("type") == "stats") EXPECT_EQ(topics[i], "alexnet/cam3/stats");
}

TEST(Mqtt, StartErrorsNameTheProblem) {
  const int closed = free_port();  // nothing listens there
  EXPECT_NE(
      run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish method=mqtt address=127.0.0.1:" +
                   std::to_string(closed) + " ! fakesink")
          .find("cannot connect to the MQTT broker 127.0.0.1:" + std::to_string(closed)),
      std::string::npos);
  EXPECT_NE(
      run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish method=mqtt address=host:99999 ! "
                   "fakesink")
          .find("address \"host:99999\": port must be 1-65535"),
      std::string::npos);
  // A topic one cannot publish to would otherwise sit in the queue for ever.
  for (const std::string topic : {"cams/#", "cams/+/{type}", ""})
    EXPECT_NE(run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish method=mqtt topic=\"" +
                           topic + "\" ! fakesink")
                  .find("topic \"" + topic + "\""),
              std::string::npos)
        << topic;
  EXPECT_NE(run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish method=mqtt "
                         "tls-ca-file=/nonexistent/ca.pem ! fakesink")
                .find("cannot read \"/nonexistent/ca.pem\""),
            std::string::npos);
  // A broker with a password file: the wrong password is refused, by name.
  const fs::path dir = fs::path(files().a).parent_path();
  const std::string pw = (dir / "mqtt-passwords").string();
  ASSERT_EQ(std::system(("mosquitto_passwd -c -b " + pw + " alice s3cret > /dev/null").c_str()), 0);
  Broker broker("allow_anonymous false\npassword_file " + pw + "\n");
  ASSERT_TRUE(broker.running());
  const std::string wrong = run_pipeline(
      "videotestsrc num-buffers=1 ! alexnetpublish method=mqtt username=alice password=nope "
      "address=127.0.0.1:" +
      std::to_string(broker.port()) + " ! fakesink");
  EXPECT_NE(wrong.find("refused"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("not authorised"), std::string::npos) << wrong;
  EXPECT_EQ(run_pipeline("videotestsrc num-buffers=3 ! alexnetpublish method=mqtt username=alice "
                         "password=s3cret address=127.0.0.1:" +
                         std::to_string(broker.port()) + " ! fakesink"),
            "");
}

// TLS with a CA the test makes (openssl): the element verifies the broker's certificate (its
// subjectAltName is 127.0.0.1) and every frame arrives; a CA that did not sign it is refused.
TEST(Mqtt, TlsWithTheTestsOwnCa) {
  const fs::path dir = fs::path(files().a).parent_path() / "tls";
  fs::create_directories(dir);
  const std::string d = dir.string();
  const std::string make =
      "cd " + d +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj '/CN=alexnet test CA' && openssl req -newkey rsa:2048 -nodes -keyout "
      "srv.key -out srv.csr -subj '/CN=127.0.0.1' && printf 'subjectAltName=IP:127.0.0.1\\n' > "
      "ext.cnf && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
      "srv.pem -days 2 -extfile ext.cnf";
  ASSERT_EQ(std::system((make + " > /dev/null 2>&1").c_str()), 0) << "openssl failed: " << make;
  const int tls_port = free_port();
  Broker broker("allow_anonymous true\nlistener " + std::to_string(tls_port) +
                " 127.0.0.1\ncafile " + d + "/ca.pem\ncertfile " + d + "/srv.pem\nkeyfile " + d +
                "/srv.key\nallow_anonymous true\n");
  ASSERT_TRUE(broker.running());
  for (int i = 0; i < 200 && !port_open(tls_port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  Subscriber sub(broker.port());  // the plain listener
  ASSERT_EQ(run_pipeline(classify(5) + "alexnetpublish method=mqtt source=tls address=127.0.0.1:" +
                         std::to_string(tls_port) + " tls-ca-file=" + d + "/ca.pem ! fakesink"),
            "");
  EXPECT_EQ(sub.wait_for(5, 20), 5u);
  const std::string wrong = run_pipeline(
      "videotestsrc num-buffers=1 ! alexnetpublish method=mqtt "
      "address=127.0.0.1:" +
      std::to_string(tls_port) + " tls-ca-file=" + d + "/srv.pem ! fakesink");
  EXPECT_NE(wrong.find("TLS"), std::string::npos) << wrong;
}
