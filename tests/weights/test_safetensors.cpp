// The safetensors container: dtypes, and one test per malformed file, each checking the
// specific error (the loader's messages are what users see when a download is corrupt).
#include <unistd.h>

#include <cmath>
#include <limits>

#include "helpers.h"

namespace {

using namespace wtest;
using alexnet::load_model;
using alexnet::read_safetensors_header;

class Container : public TempDirTest {
 protected:
  // A valid two-tensor file body: "a" F32 (2, 2) then "b" F32 (3).
  std::vector<RawTensor> two() {
    return {{"a", "F32", {2, 2}, f32_bytes({1, 2, 3, 4}), {}},
            {"b", "F32", {3}, f32_bytes({5, 6, 7}), {}}};
  }
  std::string file() { return path("m.safetensors"); }
  std::string header_error() {
    try {
      read_safetensors_header(file());
    } catch (const alexnet::Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(Container, ValidFileReads) {
  write_tensors(file(), two(), {{"k", "v"}});
  auto h = read_safetensors_header(file());
  ASSERT_EQ(h.entries.size(), 2u);
  EXPECT_EQ(h.entries[0].name, "a");
  EXPECT_EQ(h.metadata.at("k"), "v");
  auto t = alexnet::read_safetensors_tensors(file(), h);
  EXPECT_EQ(t.at("a").shape(), (alexnet::Shape{2, 2}));
  EXPECT_EQ(t.at("b").data()[2], 7.0f);
}

TEST_F(Container, F16Converts) {
  // 1, -2, smallest subnormal 2^-24, largest 65504, -0, 0.333 (0x3555)
  uint16_t h[] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x3555};
  std::string bytes(reinterpret_cast<const char*>(h), sizeof h);
  write_tensors(file(), {{"x", "F16", {6}, bytes, {}}});
  auto t = alexnet::read_safetensors_tensors(file(), read_safetensors_header(file())).at("x");
  EXPECT_EQ(t.data()[0], 1.0f);
  EXPECT_EQ(t.data()[1], -2.0f);
  EXPECT_EQ(t.data()[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(t.data()[3], 65504.0f);
  EXPECT_TRUE(t.data()[4] == 0.0f && std::signbit(t.data()[4]));
  EXPECT_EQ(t.data()[5], 0.333251953125f);
}

TEST_F(Container, BF16Converts) {
  uint16_t h[] = {0x3F80, 0xC040, 0x0001, 0x7F7F};  // 1, -3, smallest subnormal, near max
  std::string bytes(reinterpret_cast<const char*>(h), sizeof h);
  write_tensors(file(), {{"x", "BF16", {2, 2}, bytes, {}}});
  auto t = alexnet::read_safetensors_tensors(file(), read_safetensors_header(file())).at("x");
  EXPECT_EQ(t.data()[0], 1.0f);
  EXPECT_EQ(t.data()[1], -3.0f);
  EXPECT_EQ(t.data()[2], std::bit_cast<float>(uint32_t{0x00010000}));
  EXPECT_EQ(t.data()[3], std::bit_cast<float>(uint32_t{0x7F7F0000}));
}

TEST_F(Container, EmptyFile) {
  write_bytes(file(), "");
  EXPECT_ERROR(load_model(file()), "m.safetensors: is empty");
}

TEST_F(Container, ShorterThanLength) {
  write_bytes(file(), std::string("\x02\0\0\0\0", 5));
  EXPECT_ERROR(load_model(file()), "is 5 bytes, too short");
}

TEST_F(Container, MissingFile) {
  EXPECT_ERROR(load_model(path("nope.safetensors")), "nope.safetensors: cannot open",
               "No such file");
}

TEST_F(Container, HeaderLengthBeyondFile) {
  write_bytes(file(), le64(1000) + "{}");
  EXPECT_ERROR(load_model(file()), "header length 1000 runs past the end of the file (10 bytes)");
}

TEST_F(Container, HeaderLengthOverCap) {
  write_bytes(file(), le64(alexnet::kMaxHeaderBytes + 1) + "{}");
  EXPECT_ERROR(load_model(file()), "header length 104857601 exceeds the limit of 104857600");
}

TEST_F(Container, HeaderLengthHuge) {
  write_bytes(file(), le64(std::numeric_limits<uint64_t>::max()) + "{}");
  EXPECT_ERROR(load_model(file()), "exceeds the limit");
}

TEST_F(Container, InvalidJson) {
  write_raw(file(), "{\"a\": ", "");
  EXPECT_ERROR(load_model(file()), "m.safetensors: header: malformed JSON");
}

TEST_F(Container, InvalidUtf8) {
  write_raw(file(), "{\"\xff\": 1}", "");
  EXPECT_ERROR(load_model(file()), "header is not valid UTF-8 (byte 2");
}

TEST_F(Container, OverlongUtf8) {
  write_raw(file(), "{\"\xc0\xaf\": 1}", "");  // overlong '/'
  EXPECT_ERROR(load_model(file()), "not valid UTF-8");
}

TEST_F(Container, DuplicateTensorKey) {
  std::string e = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  write_raw(file(), "{\"a\":" + e + ",\"a\":" + e + "}", f32_bytes({1}));
  EXPECT_ERROR(load_model(file()), "duplicate JSON key \"a\"");
}

TEST_F(Container, DuplicateMetadataKey) {
  write_raw(file(),
            R"({"__metadata__":{"alexnet.config":"{}","alexnet.config":"{}"},)"
            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            f32_bytes({1}));
  EXPECT_ERROR(load_model(file()), "duplicate JSON key \"alexnet.config\"");
}

TEST_F(Container, NotAnObject) {
  write_raw(file(), "[1, 2]", "");
  EXPECT_ERROR(load_model(file()), "header is not a JSON object");
}

TEST_F(Container, EntryNotAnObject) {
  write_raw(file(), R"({"a": [1]})", "");
  EXPECT_ERROR(load_model(file()), "tensor 'a': entry must be a JSON object");
}

TEST_F(Container, EntryUnknownField) {
  write_raw(file(), R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})",
            f32_bytes({1}));
  EXPECT_ERROR(load_model(file()), "tensor 'a': unknown field 'x'");
}

TEST_F(Container, EntryMissingField) {
  write_raw(file(), R"({"a":{"dtype":"F32","shape":[1]}})", f32_bytes({1}));
  EXPECT_ERROR(load_model(file()), "tensor 'a': missing field 'data_offsets'");
}

TEST_F(Container, UnknownDtype) {
  auto t = two();
  t[0].dtype = "F99";
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "tensor 'a': unknown dtype \"F99\"");
}

TEST_F(Container, UnsupportedDtype) {
  write_tensors(file(), {{"a", "F64", {2}, std::string(16, '\0'), {}}});
  EXPECT_ERROR(load_model(file()), "tensor 'a': unsupported dtype F64");
}

TEST_F(Container, UnsupportedIntegerDtype) {
  write_tensors(file(), {{"a", "U8", {4}, std::string(4, '\0'), {}}});
  EXPECT_ERROR(load_model(file()), "unsupported dtype U8");
}

TEST_F(Container, NegativeShape) {
  auto t = two();
  t[0].shape = {2, -2};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "tensor 'a': shape dimension 1 is -2");
}

TEST_F(Container, NonIntegerShape) {
  auto t = two();
  t[0].shape = {2.5, 2};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "tensor 'a': shape dimension 0 is 2.5");
}

TEST_F(Container, ShapeNotAnArray) {
  auto t = two();
  t[0].shape = "2x2";
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "field 'shape' must be an array");
}

TEST_F(Container, ShapeProductOverflow) {
  auto t = two();
  t[0].shape = {uint64_t{1} << 32, uint64_t{1} << 32};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "tensor 'a': shape (4294967296, 4294967296) overflows");
}

TEST_F(Container, ShapeByteSizeOverflow) {
  auto t = two();
  t[0].shape = {uint64_t{1} << 62};  // the element count fits, its bytes do not
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "overflows the element count");
}

TEST_F(Container, ShapeOverflowBeforeAZero) {
  auto t = two();
  t[0].shape = {uint64_t{1} << 62, uint64_t{1} << 62, 0};  // product 0, but overflows on the way
  t[0].bytes.clear();
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "overflows the element count");
}

TEST_F(Container, EmptyTensorIsValid) {
  write_tensors(file(), {{"z", "F32", {0, 5}, "", {}}, {"a", "F32", {1}, f32_bytes({2}), {}}});
  auto h = read_safetensors_header(file());
  auto t = alexnet::read_safetensors_tensors(file(), h);
  EXPECT_EQ(t.at("z").numel(), 0);
  EXPECT_EQ(t.at("a").data()[0], 2.0f);
}

TEST_F(Container, ShapeDimensionBeyondInt64) {
  auto t = two();
  t[0].shape = {std::numeric_limits<uint64_t>::max()};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "dimensions must be non-negative integers");
}

TEST_F(Container, OffsetsReversed) {
  auto t = two();
  t[0].offsets = {{16, 0}};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "tensor 'a': data_offsets [16, 0] are reversed");
}

TEST_F(Container, OffsetsBeyondData) {
  auto t = two();
  t[1].offsets = {{16, 40}};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()),
               "tensor 'b': data_offsets [16, 40] run past the data section (28 bytes)");
}

TEST_F(Container, OffsetsNotIntegers) {
  write_raw(file(), R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", f32_bytes({1}));
  EXPECT_ERROR(load_model(file()), "field 'data_offsets' must be two non-negative integers");
}

TEST_F(Container, ByteSizeMismatch) {
  auto t = two();
  t[0].bytes = f32_bytes({1, 2, 3});  // 12 bytes for a (2, 2) tensor
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()),
               "tensor 'a': data_offsets [0, 12] hold 12 bytes but F32 (2, 2) needs 16");
}

TEST_F(Container, Overlap) {
  auto t = two();
  t[1].offsets = {{12, 24}};
  write_tensors(file(), t);  // data is 28 bytes: b is also 12 bytes, overlapping a's last float
  EXPECT_ERROR(load_model(file()),
               "tensor 'b' (bytes [12, 24]) overlaps tensor 'a' (bytes [0, 16])");
}

TEST_F(Container, Hole) {
  auto t = two();
  t[0].offsets = {{4, 20}};
  t[1].offsets = {{20, 32}};
  t[1].bytes += std::string(4, '\0');  // data section 32 bytes, nothing at [0, 4)
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "hole of 4 bytes in the data section before tensor 'a'");
}

TEST_F(Container, TrailingBytes) {
  auto t = two();
  t[1].bytes += "junk";
  t[1].offsets = {{16, 28}};
  write_tensors(file(), t);
  EXPECT_ERROR(load_model(file()), "4 trailing bytes after the last tensor");
}

TEST_F(Container, MetadataNotObject) {
  write_raw(file(), R"({"__metadata__": ["x"]})", "");
  EXPECT_ERROR(load_model(file()), "__metadata__ must be a JSON object");
}

TEST_F(Container, MetadataValueNotString) {
  write_raw(file(), R"({"__metadata__": {"alexnet.format_version": 1}})", "");
  EXPECT_ERROR(load_model(file()), "metadata value 'alexnet.format_version' is not a string");
}

TEST_F(Container, FileShrinksBetweenHeaderAndData) {
  write_tensors(file(), two());
  auto h = read_safetensors_header(file());
  ASSERT_EQ(::truncate(file().c_str(), static_cast<off_t>(h.data_offset + 20)), 0);
  EXPECT_ERROR(alexnet::read_safetensors_tensors(file(), h), "file size changed");
}

TEST_F(Container, NaNValue) {
  auto t = two();
  t[1].bytes = f32_bytes({5, std::numeric_limits<float>::quiet_NaN(), 7});
  write_tensors(file(), t);
  EXPECT_ERROR(alexnet::read_safetensors_tensors(file(), read_safetensors_header(file())),
               "tensor 'b': element 1 is NaN");
}

TEST_F(Container, F16InfValue) {
  uint16_t h[] = {0x3C00, 0xFC00};  // 1, -inf
  write_tensors(file(), {{"x", "F16", {2}, std::string(reinterpret_cast<const char*>(h), 4), {}}});
  EXPECT_ERROR(alexnet::read_safetensors_tensors(file(), read_safetensors_header(file())),
               "tensor 'x': element 1 is -Inf");
}

TEST_F(Container, WriteRefusesNonFinite) {
  alexnet::Tensor t({2});
  t.data()[1] = std::numeric_limits<float>::infinity();
  EXPECT_ERROR(alexnet::write_safetensors(file(), {{"x", t}}, {}),
               "tensor 'x': element 1 is not finite");
  EXPECT_TRUE(files().empty());
}

TEST_F(Container, WriteRefusesDuplicateNames) {
  alexnet::Tensor t({2});
  EXPECT_ERROR(alexnet::write_safetensors(file(), {{"x", t}, {"x", t}}, {}),
               "tensor 'x': appears twice");
}

TEST_F(Container, WriteThenReadAligned) {
  alexnet::Tensor t({3});
  t.data()[0] = 1.5f;
  alexnet::write_safetensors(file(), {{"x", t}}, {{"note", "h\xc3\xa9"}});
  auto h = read_safetensors_header(file());
  EXPECT_EQ(h.data_offset % 8, 0u);  // header padded so the data is 8-byte aligned
  EXPECT_EQ(h.metadata.at("note"), "h\xc3\xa9");
  EXPECT_EQ(alexnet::read_safetensors_tensors(file(), h).at("x").data()[0], 1.5f);
}

}  // namespace
