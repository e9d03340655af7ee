// method=mqtt for alexnetpublish (publish_mqtt.h).
#include "publish_mqtt.h"

#include <mosquitto.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace alexnet_publish {

namespace {

constexpr size_t kWindow = 100;            // messages handed to libmosquitto at once, at most
constexpr size_t kMaxPayload = 268435455;  // MQTT's largest message (its remaining length)

// A topic one may publish to: valid UTF-8, no + or #, 1..65535 bytes. Throws naming `what`.
void check_topic(const std::string& topic, const std::string& what) {
  if (topic.empty()) throw std::runtime_error(what + ": an MQTT topic may not be empty");
  if (mosquitto_validate_utf8(topic.c_str(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS)
    throw std::runtime_error(what + ": not valid UTF-8 (set source= to name the stream)");
  if (mosquitto_pub_topic_check2(topic.c_str(), topic.size()) != MOSQ_ERR_SUCCESS)
    throw std::runtime_error(what +
                             ": not an MQTT topic to publish to (no + or #, at most 65535 bytes)");
}

struct LibInit {
  LibInit() { mosquitto_lib_init(); }
};

std::string mosq_error(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

}  // namespace

void parse_address(const std::string& address, std::string* host, int* port) {
  auto bad = [&](const std::string& why) {
    return std::runtime_error("address \"" + address + "\": " + why +
                              " (expected host or host:port, [v6-address]:port)");
  };
  if (address.empty()) throw bad("empty");
  std::string h, p;
  if (address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos) throw bad("no ']'");
    h = address.substr(1, close - 1);
    if (close + 1 < address.size()) {
      if (address[close + 1] != ':') throw bad("junk after ']'");
      p = address.substr(close + 2);
    }
  } else {
    const size_t colon = address.find(':');
    if (colon != std::string::npos && address.find(':', colon + 1) != std::string::npos)
      throw bad("an IPv6 address needs brackets");
    h = address.substr(0, colon);
    if (colon != std::string::npos) p = address.substr(colon + 1);
  }
  if (h.empty()) throw bad("no host");
  *port = 0;
  if (!p.empty() || address.back() == ':') {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || errno || *end || v < 1 || v > 65535) throw bad("port must be 1-65535");
    *port = static_cast<int>(v);
  }
  *host = h;
}

MqttOutput::MqttOutput(MqttConfig config, std::function<void(const std::string&)> warn)
    : cfg_(std::move(config)), warn_(std::move(warn)) {}

MqttOutput::~MqttOutput() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (net_.joinable()) net_.join();
  if (mosq_) {
    mosquitto_disconnect(mosq_);
    mosquitto_destroy(mosq_);
  }
}

void MqttOutput::open() {
  static LibInit init;
  int port = 0;
  parse_address(cfg_.address, &host_, &port);
  const bool tls = !cfg_.tls_ca_file.empty();
  port_ = port ? port : tls ? 8883 : 1883;
  const std::string where = "MQTT broker " + host_ + ":" + std::to_string(port_);
  if (cfg_.qos < 0 || cfg_.qos > 2) throw std::runtime_error("qos must be 0, 1 or 2");
  if (cfg_.max_queued < 1) throw std::runtime_error("max-queued must be at least 1");
  {  // the template with sample values: + # and empty levels are caught here, at start
    std::string sample = cfg_.topic;
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"{source}", "s"}, {"{type}", "frame"}})
      for (size_t at; (at = sample.find(key)) != std::string::npos;)
        sample.replace(at, key.size(), value);
    check_topic(sample, "topic \"" + cfg_.topic + "\"");
  }
  for (const std::string* f : {&cfg_.tls_ca_file, &cfg_.tls_cert_file, &cfg_.tls_key_file})
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0)
      throw std::runtime_error("cannot read \"" + *f + "\": " + std::strerror(errno));
  if (cfg_.tls_cert_file.empty() != cfg_.tls_key_file.empty())
    throw std::runtime_error("tls-cert-file and tls-key-file go together");
  if (!cfg_.tls_cert_file.empty() && !tls)
    throw std::runtime_error("tls-cert-file needs tls-ca-file (the broker's CA)");
  // A given client id keeps its session across reconnects (clean_session false); without one,
  // libmosquitto makes a random id, which needs a clean session.
  mosq_ = mosquitto_new(cfg_.client_id.empty() ? nullptr : cfg_.client_id.c_str(),
                        cfg_.client_id.empty(), this);
  if (!mosq_) throw std::runtime_error(where + ": mosquitto_new failed: " + std::strerror(errno));
  mosquitto_connect_callback_set(mosq_, &MqttOutput::on_connect);
  mosquitto_disconnect_callback_set(mosq_, &MqttOutput::on_disconnect);
  mosquitto_publish_callback_set(mosq_, &MqttOutput::on_publish);
  if (!cfg_.username.empty()) {
    const int rc = mosquitto_username_pw_set(
        mosq_, cfg_.username.c_str(), cfg_.password.empty() ? nullptr : cfg_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) throw std::runtime_error(where + ": username: " + mosq_error(rc));
  }
  if (tls) {
    const int rc =
        mosquitto_tls_set(mosq_, cfg_.tls_ca_file.c_str(), nullptr,
                          cfg_.tls_cert_file.empty() ? nullptr : cfg_.tls_cert_file.c_str(),
                          cfg_.tls_key_file.empty() ? nullptr : cfg_.tls_key_file.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) throw std::runtime_error(where + ": TLS setup: " + mosq_error(rc));
  }
  const int rc = mosquitto_connect(mosq_, host_.c_str(), port_, cfg_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error("cannot connect to the " + where + ": " + mosq_error(rc));
  net_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> lock(mu_);
  const bool answered =
      cv_.wait_for(lock, std::chrono::duration<double>(cfg_.connect_timeout_s),
                   [&] { return connected_ || connack_ > 0 || !connect_error_.empty(); });
  if (connected_) return;
  std::string why = connack_ > 0 ? std::string("refused: ") + mosquitto_connack_string(connack_)
                    : !connect_error_.empty() ? connect_error_
                    : answered
                        ? "no answer"
                        : "no answer within " + std::to_string(cfg_.connect_timeout_s) + " s";
  lock.unlock();
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  net_.join();
  throw std::runtime_error("cannot connect to the " + where + ": " + why);
}

void MqttOutput::publish(const std::string& topic, std::string payload) {
  check_topic(topic, "topic \"" + topic + "\"");
  // MQTT's remaining length holds the topic (and its 2-byte length) and the packet id too
  const size_t limit = kMaxPayload - 4 - topic.size();
  if (payload.size() > limit)
    throw std::runtime_error("a message of " + std::to_string(payload.size()) +
                             " bytes is over MQTT's limit of " + std::to_string(limit) +
                             " on this topic");
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_ || closing_) throw std::runtime_error("MQTT output is closed");
  if (queue_.size() >= cfg_.max_queued) {
    if (!cfg_.drop_oldest) {
      cv_.wait(lock, [&] { return stop_ || queue_.size() < cfg_.max_queued; });
      if (stop_) throw std::runtime_error("MQTT output is closed");
    } else if (handed_ < queue_.size()) {  // the oldest message libmosquitto does not have
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(handed_));
      ++dropped_;
    } else {  // every queued message is in flight: the new one goes
      ++dropped_;
      return;
    }
  }
  queue_.push_back({topic, std::move(payload), -1});
  lock.unlock();
  cv_.notify_all();
}

size_t MqttOutput::close() {
  std::unique_lock<std::mutex> lock(mu_);
  closing_ = true;
  cv_.wait_for(lock, std::chrono::duration<double>(cfg_.flush_timeout_s),
               [&] { return queue_.empty() || stop_; });
  const size_t left = queue_.size();
  stop_ = true;
  lock.unlock();
  cv_.notify_all();
  if (net_.joinable()) net_.join();
  if (mosq_) {
    mosquitto_disconnect(mosq_);
    mosquitto_loop(mosq_, 100, 1);  // send the DISCONNECT
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }
  return left;
}

uint64_t MqttOutput::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

uint64_t MqttOutput::acknowledged() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_;
}

size_t MqttOutput::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool MqttOutput::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

// Hands waiting messages to libmosquitto, in order, up to kWindow in flight. The mutex is not
// held inside libmosquitto (its callbacks take it).
void MqttOutput::hand_over(std::unique_lock<std::mutex>& lock) {
  while (connected_ && !stop_ && handed_ < queue_.size() && handed_ < kWindow) {
    const size_t i = handed_++;  // no longer "waiting": drop-oldest leaves it alone
    const std::string topic = queue_[i].topic, payload = queue_[i].payload;
    lock.unlock();
    int mid = 0;
    const int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                     payload.data(), cfg_.qos, false);
    lock.lock();
    // libmosquitto 2.0 (lib/actions.c) checks the message first and refuses it with one of
    // these, holding nothing; after the checks a qos 1/2 message is in its own queue whatever
    // the socket does (a failed write: ERRNO, CONN_LOST, NO_CONN), and it resends it after
    // the reconnect, so it stays handed over, awaiting its acknowledgement.
    const bool refused = rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_MALFORMED_UTF8 ||
                         rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_QOS_NOT_SUPPORTED ||
                         rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_NOT_SUPPORTED ||
                         rc == MOSQ_ERR_NOMEM;
    if (rc != MOSQ_ERR_SUCCESS && !refused) {
      if (cfg_.qos > 0) {
        queue_[i].mid = mid;
      } else {  // qos 0 is not kept by libmosquitto: it waits here for the reconnect
        --handed_;
      }
      return;
    }
    if (refused) {  // kept, it would block the queue for ever: dropped, counted, said
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
      --handed_;
      ++dropped_;
      cv_.notify_all();
      if (warn_) {
        const std::string text = "MQTT message on \"" + topic + "\" refused by libmosquitto (" +
                                 mosq_error(rc) + "): dropped, counted in dropped";
        lock.unlock();
        warn_(text);
        lock.lock();
      }
      continue;
    }
    if (cfg_.qos == 0) {  // nothing will acknowledge it: written is delivered
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
      --handed_;
      ++acked_;
      cv_.notify_all();
    } else {
      queue_[i].mid = mid;
    }
  }
}

void MqttOutput::run() {
  double backoff = 0.5;
  bool socket = true;  // open() connected the socket
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!socket) {
      lock.unlock();
      const int rc = mosquitto_reconnect(mosq_);
      lock.lock();
      if (rc != MOSQ_ERR_SUCCESS) {
        if (!ever_connected_) connect_error_ = mosq_error(rc);
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::duration<double>(backoff), [&] { return stop_; });
        backoff = std::min(30.0, backoff * 2);
        continue;
      }
      socket = true;
    }
    hand_over(lock);
    lock.unlock();
    const int rc = mosquitto_loop(mosq_, 50, 1);
    lock.lock();
    if (rc == MOSQ_ERR_SUCCESS) {
      if (connected_) backoff = 0.5;
      continue;
    }
    // The connection is gone (the broker stopped, the network, a refused CONNACK).
    socket = false;
    const bool was = connected_;
    connected_ = false;
    if (!ever_connected_ && connect_error_.empty() && connack_ <= 0)
      connect_error_ = mosq_error(rc);
    cv_.notify_all();
    if (was && warn_) {
      const std::string text = "lost the MQTT broker " + host_ + ":" + std::to_string(port_) +
                               " (" + mosq_error(rc) + "); reconnecting, " +
                               std::to_string(queue_.size()) + " message(s) kept";
      lock.unlock();
      warn_(text);
      lock.lock();
    }
    cv_.wait_for(lock, std::chrono::duration<double>(backoff), [&] { return stop_; });
    backoff = std::min(30.0, backoff * 2);
  }
}

void MqttOutput::on_connect(mosquitto*, void* self, int rc) {
  auto* me = static_cast<MqttOutput*>(self);
  std::lock_guard<std::mutex> lock(me->mu_);
  me->connack_ = rc;
  me->connected_ = rc == 0;
  if (rc == 0) me->ever_connected_ = true;
  me->cv_.notify_all();
}

void MqttOutput::on_disconnect(mosquitto*, void* self, int) {
  auto* me = static_cast<MqttOutput*>(self);
  std::lock_guard<std::mutex> lock(me->mu_);
  me->connected_ = false;
  me->cv_.notify_all();
}

// qos 1: PUBACK; qos 2: PUBCOMP. The message leaves the queue.
void MqttOutput::on_publish(mosquitto*, void* self, int mid) {
  auto* me = static_cast<MqttOutput*>(self);
  std::lock_guard<std::mutex> lock(me->mu_);
  for (size_t i = 0; i < me->handed_; ++i)
    if (me->queue_[i].mid == mid) {
      me->queue_.erase(me->queue_.begin() + static_cast<std::ptrdiff_t>(i));
      --me->handed_;
      ++me->acked_;
      me->cv_.notify_all();
      return;
    }
}

}  // namespace alexnet_publish
