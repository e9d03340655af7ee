#include "cpu_common.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <cstdlib>
#include <cstring>

#include "cpu_debug.h"
#include "signal_guard.h"

namespace alexnet::cpu {

namespace {

// What a Tensor's opaque layout points to for this backend. The tag guards against reading
// a layout some other backend made (tensors of one backend are not meant for another).
struct NativeLayout {
  static constexpr uint64_t kTag = 0x646e6e6c2d6c6179;  // "dnnl-lay"
  uint64_t tag = kTag;
  Md md;
  float scale = 0;  // int8 data: real = stored / scale
};

}  // namespace

void throw_dnnl(const dnnl::error& e, const char* call, const char* file, int line) {
  throw Error(std::string("oneDNN error (status ") + std::to_string(static_cast<int>(e.status)) +
              ": " + e.what() + ") in " + call + " at " + file + ":" + std::to_string(line));
}

Context::Context(int nthreads, int forced_block, Dt inference_dt)
    : eng(ALEXNET_DNNL(dnnl::engine(dnnl::engine::kind::cpu, 0))),
      strm(ALEXNET_DNNL(dnnl::stream(eng))),
      threads(nthreads),
      block(forced_block),
      inference(inference_dt) {
  if (block != 0 && block != 8 && block != 16)
    throw Error("cpu backend: activation block must be 0, 8 or 16, got " + std::to_string(block));
}

int block_from_env() {
  const char* v = std::getenv("ALEXNET_CPU_BLOCK");
  if (!v || !*v) return 0;
  const std::string s(v);
  if (s == "8") return 8;
  if (s == "16") return 16;
  throw Error("ALEXNET_CPU_BLOCK='" + s +
              "': must be 8 (nChw8c activations) or 16 (nChw16c), or unset (oneDNN's choice)");
}

std::string effective_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other (" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + ")";
  }
}

Md activation_md(const Context& ctx, const Dims& dims, Dt dt) {
  if (ctx.block == 0 || dims.size() != 4 || dims[1] % ctx.block != 0) return Md(dims, dt, Tag::any);
  return Md(dims, dt, ctx.block == 16 ? Tag::nChw16c : Tag::nChw8c);
}

Dt dnnl_dt(DType t) {
  switch (t) {
    case DType::F32:
      return f32;
    case DType::BF16:
      return bf16;
    case DType::S8:
      return s8;
    case DType::U8:
      return u8;
    default:
      throw Error(std::string("cpu backend: no tensors of type ") + dtype_name(t));
  }
}

static DType dtype_of(Dt dt) {
  switch (dt) {
    case f32:
      return DType::F32;
    case bf16:
      return DType::BF16;
    case s8:
      return DType::S8;
    case u8:
      return DType::U8;
    default:
      throw Error("cpu backend: unexpected oneDNN data type " +
                  std::to_string(static_cast<int>(dt)));
  }
}

Md blocked_md(const Context& ctx, const Dims& dims) {
  return Md(dims, f32, ctx.block == 16 ? Tag::nChw16c : Tag::nChw8c);
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  ALEXNET_DNNL(attr.set_scratchpad_mode(dnnl::scratchpad_mode::user));
  return attr;
}

// The context's scratchpad as a memory of at least `bytes`.
static dnnl_memory_t scratchpad_memory(const Context& ctx, size_t bytes) {
  Context::Scratchpad& s = ctx.scratchpad;
  if (bytes > s.buf.bytes() || !s.mem) {
    s.buf.ensure(bytes);
    s.mem = ALEXNET_DNNL(
        memory(Md({static_cast<int64_t>(s.buf.bytes())}, Dt::u8, Tag::a), ctx.eng, s.buf.data()));
  }
  return s.mem.get();
}

void execute(const Context& ctx, const dnnl::primitive& prim,
             std::initializer_list<std::pair<int, const memory*>> args) {
  dnnl_exec_arg_t c_args[17];
  int n = 0;
  for (const auto& [arg, mem] : args) {
    if (!mem) continue;
    if (n == 16) throw Error("cpu backend: too many primitive arguments");
    c_args[n++] = {arg, mem->get()};
  }
  const_dnnl_primitive_desc_t pd = prim.get_primitive_desc();
  const char* impl = nullptr;  // e.g. "x64:gemm:jit": for the signal guard and the errors
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
    impl = "?";
  const_dnnl_primitive_attr_t attr = nullptr;
  dnnl_scratchpad_mode_t mode = dnnl_scratchpad_mode_library;
  if (dnnl_primitive_desc_get_attr(pd, &attr) != dnnl_success ||
      dnnl_primitive_attr_get_scratchpad_mode(attr, &mode) != dnnl_success ||
      mode != dnnl_scratchpad_mode_user) {
    throw Error(std::string("cpu backend: ") + impl +
                " was created without user_scratchpad() (cpu_common.h says why it needs one)");
  }
  const dnnl_memory_desc_t* scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (const size_t bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0)
    c_args[n++] = {DNNL_ARG_SCRATCHPAD, scratchpad_memory(ctx, bytes)};
  dnnl_status_t st;
  {
    SignalGuard guard(impl, ctx.threads);  // no signal frame on a heap workspace (signal_guard.h)
    st = dnnl_primitive_execute(prim.get(), ctx.strm.get(), n, c_args);
  }
  if (st != dnnl_success) {
    throw Error("oneDNN error (status " + std::to_string(static_cast<int>(st)) +
                ") in dnnl_primitive_execute of " + impl + " at " + __FILE__ + ":" +
                std::to_string(__LINE__));
  }
}

Md plain_md(const Shape& shape, Dt dt) {
  Dims dims(shape.begin(), shape.end());
  switch (shape.size()) {
    case 1:
      return Md(dims, dt, Tag::a);
    case 2:
      return Md(dims, dt, Tag::ab);
    case 3:
      return Md(dims, dt, Tag::abc);
    case 4:
      return Md(dims, dt, Tag::abcd);
    case 5:
      return Md(dims, dt, Tag::abcde);
    default:
      throw Error("cpu backend: no plain layout for shape " + shape_str(shape));
  }
}

Md tensor_md(const Tensor& t) {
  if (t.device() != DeviceKind::Cpu)
    throw Error("cpu backend: tensor " + shape_str(t.shape()) + " is not a host tensor");
  if (t.empty()) throw Error("cpu backend: empty tensor " + shape_str(t.shape()));
  if (t.is_plain()) return plain_md(t.shape(), dnnl_dt(t.dtype()));
  const auto* l = static_cast<const NativeLayout*>(t.layout().get());
  if (l->tag != NativeLayout::kTag)
    throw Error("cpu backend: tensor " + shape_str(t.shape()) + " has another backend's layout");
  return l->md;
}

std::shared_ptr<const void> make_layout(const Md& md, const Shape& shape, float scale) {
  // Plain row-major data of the same element count is plain whatever its rank: an inner
  // product's (N, C·H·W) gradient is the plain (N, C, H, W) one.
  Dims dims = md.dims();
  Shape md_shape(dims.begin(), dims.end());
  if (md == plain_md(md_shape) && shape_numel(md_shape) == shape_numel(shape) && scale == 0)
    return nullptr;
  auto l = std::make_shared<NativeLayout>();
  l->md = md;
  l->scale = scale;
  return l;
}

float tensor_scale(const Tensor& t) {
  if (t.is_plain()) return 0;
  const auto* l = static_cast<const NativeLayout*>(t.layout().get());
  return l->tag == NativeLayout::kTag ? l->scale : 0;
}

Md with_dt(const Md& md, Dt dt) {
  dnnl_memory_desc_t d = md.data;
  d.data_type = static_cast<dnnl_data_type_t>(dt);
  return Md(d);
}

void quantize_weights(const Context& ctx, const Md& user_md, const float* user, const Md& want,
                      int mask, const std::vector<float>& scales, void* dst) {
  dnnl::primitive_attr attr = user_scratchpad();
  attr.set_output_scales(mask, scales);
  auto pd = ALEXNET_DNNL(dnnl::reorder::primitive_desc(ctx.eng, user_md, ctx.eng, want, attr));
  memory src = empty_memory(ctx, user_md), out = empty_memory(ctx, want);
  execute(ctx, ALEXNET_DNNL(dnnl::reorder(pd)),
          {{DNNL_ARG_FROM, &bind(src, user)}, {DNNL_ARG_TO, &bind(out, dst)}});
}

float* Buffer::ensure(size_t bytes) {
  if (bytes <= bytes_ && data_) return data_;
  size_t size = (bytes + 63) / 64 * 64;
  if (size == 0) size = 64;
  void* p = std::aligned_alloc(64, size);
  if (!p) throw Error("cpu backend: out of memory allocating " + std::to_string(size) + " bytes");
  // Zeroed once: blocked layouts have padding lanes that some kernels read.
  std::memset(p, 0, size);
  owner_ = std::shared_ptr<void>(p, std::free);
  data_ = static_cast<float*>(p);
  bytes_ = size;
  return data_;
}

void Output::bind(const Md& want, const Shape& shape, float want_scale) {
  size_t bytes = want.get_size();
  bool grew = bytes > buf.bytes() || buf.data() == nullptr;
  if (!grew && want == md && tensor.shape() == shape && !tensor.empty() && want_scale == scale)
    return;
  buf.ensure(bytes);
  md = want;
  scale = want_scale;
  const DType dt = dtype_of(want.data_type());
  tensor = Tensor(shape, buf.data(), buf.bytes() / dtype_size(dt), buf.owner(), DeviceKind::Cpu,
                  make_layout(want, shape, want_scale), dt);
}

void ReorderCache::run(const Context& ctx, const Md& from, const void* src, const Md& to, void* dst,
                       float scale) {
  if (!prim_ || from != from_ || to != to_ || scale != scale_) {
    dnnl::primitive_attr attr = user_scratchpad();
    if (scale != 1.f) attr.set_output_scales(0, {scale});
    auto pd = ALEXNET_DNNL(dnnl::reorder::primitive_desc(ctx.eng, from, ctx.eng, to, attr));
    prim_ = ALEXNET_DNNL(dnnl::reorder(pd));
    src_ = empty_memory(ctx, from);
    dst_ = empty_memory(ctx, to);
    from_ = from;
    to_ = to;
    scale_ = scale;
  }
  execute(ctx, prim_, {{DNNL_ARG_FROM, &bind(src_, src)}, {DNNL_ARG_TO, &bind(dst_, dst)}});
}

const float* Converter::to(const Context& ctx, const Md& have, const float* data, const Md& want,
                           float scale) {
  if (have == want && scale == 1.f) return data;
  float* out = buf_.ensure(want.get_size());
  reorder_.run(ctx, have, data, want, out, scale);
  return out;
}

WeightCache::Entry& WeightCache::entry_for(const Md& want) {
  for (auto& entry : entries_)
    if (entry->md == want) return *entry;
  entries_.push_back(std::make_unique<Entry>());
  entries_.back()->md = want;
  return *entries_.back();
}

const float* WeightCache::get(const Context& ctx, const Md& user_md, const float* user,
                              const Md& want, uint64_t version) {
  if (user_md == want) return user;
  Entry& e = entry_for(want);
  if (e.src == user && e.version == version && e.buf.data()) return e.buf.data();
  float* out = e.buf.ensure(want.get_size());
  e.reorder.run(ctx, user_md, user, want, out);
  e.src = user;
  e.version = version;
  return out;
}

const void* WeightCache::get_s8(const Context& ctx, const Md& user_md, const float* user,
                                const Md& want, int mask, const std::vector<float>& scales,
                                uint64_t version) {
  Entry& e = entry_for(want);
  if (e.src == user && e.version == version && e.scales == scales && e.buf.data())
    return e.buf.data();
  float* out = e.buf.ensure(want.get_size());
  quantize_weights(ctx, user_md, user, want, mask, scales, out);
  e.src = user;
  e.version = version;
  e.scales = scales;
  return out;
}

float* grad_target(Tensor* g, const Shape& shape, const char* what) {
  if (!g) return nullptr;
  if (g->empty()) *g = Tensor(shape);
  if (!g->is_plain() || g->device() != DeviceKind::Cpu || g->shape() != shape)
    throw Error(std::string(what) + " must be a plain host tensor of shape " + shape_str(shape) +
                ", got " + shape_str(g->shape()));
  return g->data();
}

std::string describe_pd(const char* role, const dnnl::primitive_desc_base& pd) {
  // oneDNN's own tag spelling: dimensions outermost first, upper case when blocked, then
  // the inner blocks ("aBcd8b" is nChw8c). dnnl_md2fmt_str is not public in 2.6.
  auto fmt = [](const Md& md) {
    if (!md) return std::string("-");
    if (md.data.format_kind != dnnl_blocked) return std::string("opaque");
    const auto& blk = md.data.format_desc.blocking;
    const int nd = md.data.ndims;
    std::vector<int> order(static_cast<size_t>(nd));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return blk.strides[a] > blk.strides[b]; });
    std::vector<bool> blocked(static_cast<size_t>(nd), false);
    for (int i = 0; i < blk.inner_nblks; ++i)
      blocked[static_cast<size_t>(blk.inner_idxs[i])] = true;
    std::string s;
    for (int d : order) s += static_cast<char>((blocked[static_cast<size_t>(d)] ? 'A' : 'a') + d);
    for (int i = 0; i < blk.inner_nblks; ++i)
      s += std::to_string(blk.inner_blks[i]) + static_cast<char>('a' + blk.inner_idxs[i]);
    // f32, the usual, goes unsaid
    if (md.data_type() == bf16) s = "bf16:" + s;
    if (md.data_type() == u8) s = "u8:" + s;
    if (md.data_type() == s8) s = "s8:" + s;
    return s;
  };
  std::string s = std::string(role) + " " + pd.impl_info_str();
  s += " src " + fmt(pd.src_desc().is_zero() ? pd.diff_src_desc() : pd.src_desc());
  s += " wei " + fmt(pd.weights_desc().is_zero() ? pd.diff_weights_desc() : pd.weights_desc());
  s += " dst " + fmt(pd.dst_desc().is_zero() ? pd.diff_dst_desc() : pd.dst_desc());
  return s + "\n";
}

std::string describe_op(const Op& op) {
  const auto* c = dynamic_cast<const CpuOp*>(&op);
  return c ? c->describe() : std::string();
}

memory empty_memory(const Context& ctx, const Md& md) {
  return ALEXNET_DNNL(memory(md, ctx.eng, DNNL_MEMORY_NONE));
}

void Workspace::init(const Context& ctx, const Md& md) {
  if (!md) return;
  mem = empty_memory(ctx, md);
  buf.ensure(md.get_size());
}

void Int8Layer::init(const LayerRange& r, const Tensor& x, const float* w, int64_t out, int64_t row,
                     const float* b, bool fused_relu) {
  const float x_scale = tensor_scale(x);
  if (x_scale > 0) {
    src_dt = dnnl_dt(x.dtype());
    sx = x_scale;
  } else {
    src_dt = r.in_min >= 0 ? u8 : s8;
    sx = (src_dt == u8 ? 255.f : 127.f) / std::max(std::fabs(r.in_min), std::fabs(r.in_max));
  }
  dst_dt = fused_relu ? u8 : f32;
  sy = fused_relu ? 255.f / (r.out_max > 0 ? r.out_max : 1.f) : 0.f;
  // Without VNNI, oneDNN's u8 x s8 kernels add pairs of products in 16 bits (vpmaddubsw),
  // which can saturate at 255 * 127 * 2; oneDNN suggests 7-bit weights there. Measured under
  // ONEDNN_MAX_CPU_ISA=AVX2 (tests/backends, torchvision size, a real photo): 8-bit weights
  // 2.5% of the largest logit, 7-bit 5.1%: the pairs of large products that saturate are
  // rarer than the rounding 7 bits cost, so 8 bits stay on every ISA.
  const float w_levels = 127.f;
  sw.assign(static_cast<size_t>(out), 1.f);
  out_scales.assign(static_cast<size_t>(out), 1.f);
  bias.assign(static_cast<size_t>(out), 0);
  for (int64_t o = 0; o < out; ++o) {
    float m = 0;
    for (int64_t j = 0; j < row; ++j) m = std::max(m, std::fabs(w[o * row + j]));
    const size_t i = static_cast<size_t>(o);
    sw[i] = m > 0 ? w_levels / m : 1.f;
    out_scales[i] = (sy > 0 ? sy : 1.f) / (sx * sw[i]);
    if (b) {
      const double q = std::nearbyint(static_cast<double>(b[o]) * sx * sw[i]);
      bias[i] = static_cast<int32_t>(std::clamp(q, -2147483648.0, 2147483647.0));
    }
  }
}

dnnl::primitive_attr Int8Layer::attr(bool fused_relu) const {
  dnnl::primitive_attr a = fused_relu_attr(fused_relu);
  ALEXNET_DNNL(a.set_output_scales(1 << 1, out_scales));
  return a;
}

dnnl::primitive_attr fused_relu_attr(bool fused_relu) {
  dnnl::primitive_attr attr = user_scratchpad();
  if (fused_relu) {
    dnnl::post_ops po;
    ALEXNET_DNNL(po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f));
    ALEXNET_DNNL(attr.set_post_ops(po));
  }
  return attr;
}

dnnl::eltwise_forward::primitive_desc relu_forward_pd(const Context& ctx, const Md& md) {
  return ALEXNET_DNNL(dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                  dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f),
      user_scratchpad(), ctx.eng));
}

void ReluBackward::init(const Context& ctx, const Md& md) {
  auto pd = ALEXNET_DNNL(dnnl::eltwise_backward::primitive_desc(
      dnnl::eltwise_backward::desc(dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f),
      user_scratchpad(), ctx.eng, relu_forward_pd(ctx, md)));
  prim_ = ALEXNET_DNNL(dnnl::eltwise_backward(pd));
  dx_md_ = pd.diff_src_desc();
  y_ = empty_memory(ctx, md);
  dy_ = empty_memory(ctx, md);
  dx_ = empty_memory(ctx, dx_md_);
}

void ReluBackward::run(const Context& ctx, const float* y, const float* dy, float* dx) const {
  execute(ctx, prim_,
          {{DNNL_ARG_DST, &bind(y_, y)},
           {DNNL_ARG_DIFF_DST, &bind(dy_, dy)},
           {DNNL_ARG_DIFF_SRC, &bind(dx_, dx)}});
}

void WeightGradients::init(const Context& ctx, const dnnl::primitive_desc& pd,
                           int64_t out_channels) {
  pd_ = pd;
  prim_ = ALEXNET_DNNL(dnnl::primitive(pd));
  out_channels_ = out_channels;
  src_ = empty_memory(ctx, pd.src_desc());
  ddst_ = empty_memory(ctx, pd.diff_dst_desc());
  dwei_ = empty_memory(ctx, pd.diff_weights_desc());
  dbias_ = empty_memory(ctx, Md({out_channels}, f32, Tag::a));
}

void WeightGradients::run(const Context& ctx, const float* src, const float* ddst, const Md& user_w,
                          float* gw, float* gb) {
  const Md dw_md = pd_.diff_weights_desc();
  const bool direct = gw && dw_md == user_w;
  float* dw = direct ? gw : dw_.ensure(dw_md.get_size());
  float* db = gb ? gb : db_.ensure(sizeof(float) * static_cast<size_t>(out_channels_));
  execute(ctx, prim_,
          {{DNNL_ARG_SRC, &bind(src_, src)},
           {DNNL_ARG_DIFF_DST, &bind(ddst_, ddst)},
           {DNNL_ARG_DIFF_WEIGHTS, &bind(dwei_, dw)},
           {DNNL_ARG_DIFF_BIAS, &bind(dbias_, db)}});
  if (gw && !direct) dw_out_.run(ctx, dw_md, dw, user_w, gw);
}

const Tensor& CpuOp::blocked(const Tensor& x) {
  if (!wants_blocked_input() || x.rank() != 4 || !x.is_plain() || x.dim(1) < 8) return x;
  const Md want = blocked_md(*ctx_, Dims(x.shape().begin(), x.shape().end()));
  if (blocked_x_.tensor.shape() != x.shape() || blocked_x_.md != want)
    blocked_x_.bind(want, x.shape());
  to_blocked_.run(*ctx_, plain_md(x.shape()), x.data(), want, blocked_x_.data());
  return blocked_x_.tensor;
}

const Tensor& CpuOp::dequantized(const Tensor& x) {
  if (x.dtype() != DType::S8 && x.dtype() != DType::U8) return x;
  if (takes_int8()) return x;
  return to_f32(x);
}

void CpuOp::check_int8_range(const OpParams& p) {
  if (!p.range)
    throw Error(
        "precision int8 needs a calibrated model (alexnet-calibrate), and this one has no "
        "activation ranges");
}

const Tensor& CpuOp::to_f32(const Tensor& x) {
  if (tensor_scale(x) <= 0)
    throw Error(std::string("cpu backend: an ") + dtype_name(x.dtype()) +
                " tensor without its quantisation scale");
  const Md md = tensor_md(x);
  const Md want = with_dt(md, f32);  // the same layout in f32
  dequantized_x_.bind(want, x.shape());
  to_f32_.run(*ctx_, md, x.data(), want, dequantized_x_.data(), 1.f / tensor_scale(x));
  return dequantized_x_.tensor;
}

const Tensor& CpuOp::forward(const Tensor& x, const OpParams& p, bool training) {
  ThreadScope scope(*ctx_);
  try {
    return run_forward(blocked(dequantized(x)), p, training);
  } catch (const Error& e) {
    throw Error("cpu backend, layer " + spec_.name + " forward: " + e.what());
  } catch (const dnnl::error& e) {
    throw Error("cpu backend, layer " + spec_.name + " forward: oneDNN: " + e.what());
  }
}

const Tensor& CpuOp::backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                              bool need_dx) {
  ThreadScope scope(*ctx_);
  try {
    return run_backward(blocked(x), y, dy, p, need_dx);
  } catch (const Error& e) {
    throw Error("cpu backend, layer " + spec_.name + " backward: " + e.what());
  } catch (const dnnl::error& e) {
    throw Error("cpu backend, layer " + spec_.name + " backward: oneDNN: " + e.what());
  }
}

void CpuOp::expect_shape(const Tensor& t, const Shape& shape, const char* what) const {
  if (t.shape() != shape)
    throw Error(std::string(what) + " has shape " + shape_str(t.shape()) + ", expected " +
                shape_str(shape));
}

}  // namespace alexnet::cpu
