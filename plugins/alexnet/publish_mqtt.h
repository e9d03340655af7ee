// method=mqtt for alexnetpublish: JSON messages to an MQTT broker through libmosquitto (Debian
// 2.0.11), with nothing lost while the broker is away.
//
// libmosquitto queues without bound while disconnected, so this keeps its own bounded queue:
// a message enters it when the frame passes and leaves it when the broker acknowledges it
// (PUBACK for qos 1, PUBCOMP for qos 2; for qos 0, once written). One network thread owns the
// mosquitto handle: it connects, reconnects with exponential backoff (0.5 s doubling to
// 30 s), hands libmosquitto at most `window` messages at a time, in order, and takes the
// acknowledgements. A full queue blocks the caller (on_full=block) or drops the oldest message
// not yet handed to libmosquitto (drop-oldest), counting it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

struct mosquitto;

namespace alexnet_publish {

struct MqttConfig {
  std::string address = "127.0.0.1";  // host[:port]; [v6]:port
  std::string topic = "alexnet/{source}/{type}";
  int qos = 1;
  std::string client_id;  // "" = libmosquitto's random id
  std::string username, password;
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  int keepalive_s = 60;
  size_t max_queued = 10000;
  bool drop_oldest = false;  // on_full: false = block
  double connect_timeout_s = 10;
  double flush_timeout_s = 10;  // at close: how long to wait for the queue's acknowledgements
};

// host and port of an address ("broker", "broker:1884", "[::1]:1883"); port 0 when absent.
// Throws std::runtime_error naming a malformed address.
void parse_address(const std::string& address, std::string* host, int* port);

class MqttOutput {
 public:
  // warn: a later problem (a lost connection, a reconnect), from the network thread.
  explicit MqttOutput(MqttConfig config, std::function<void(const std::string&)> warn);
  ~MqttOutput();  // close() without waiting
  MqttOutput(const MqttOutput&) = delete;
  MqttOutput& operator=(const MqttOutput&) = delete;

  // Checks the config (address, qos, TLS files readable), connects and waits for the broker's
  // answer (connect_timeout_s). Throws std::runtime_error naming the address and the reason.
  void open();
  // Queues one message for `topic` (already expanded). Blocks while the queue is full
  // (on_full=block), else drops the oldest waiting message. Throws after close().
  void publish(const std::string& topic, std::string payload);
  // Waits (flush_timeout_s at most) until every queued message is acknowledged, then
  // disconnects. Returns the messages left unacknowledged (0 = all delivered).
  size_t close();

  uint64_t dropped() const;
  uint64_t acknowledged() const;
  size_t queued() const;  // in the queue: not yet acknowledged
  bool connected() const;

 private:
  struct Message {
    std::string topic, payload;
    int mid = -1;  // libmosquitto's id once handed over; -1 = waiting
  };
  MqttConfig cfg_;
  std::function<void(const std::string&)> warn_;
  std::string host_;
  int port_ = 1883;
  mosquitto* mosq_ = nullptr;
  std::thread net_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // queue space, connection state, stop
  std::deque<Message> queue_;
  size_t handed_ = 0;  // messages at the front of queue_ that libmosquitto has
  bool connected_ = false, ever_connected_ = false, stop_ = false, closing_ = false;
  int connack_ = -1;  // the broker's last CONNACK code (0 = accepted)
  std::string connect_error_;
  uint64_t dropped_ = 0, acked_ = 0;

  void run();  // the network thread
  void hand_over(std::unique_lock<std::mutex>& lock);
  static void on_connect(mosquitto*, void* self, int rc);
  static void on_disconnect(mosquitto*, void* self, int rc);
  static void on_publish(mosquitto*, void* self, int mid);
};

}  // namespace alexnet_publish
