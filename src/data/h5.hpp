// Thin, checked helpers over the HDF5 C API (internal to the data module): RAII handles,
// typed 1-D/N-D reads and row-range hyperslabs, extendible chunked datasets, attributes.
// Every library call goes through FEDVLM_CHECK_HDF5; every InputError names "file:/path".
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "fedvlm/core/error.hpp"

namespace fedvlm::data::h5 {

// The serial HDF5 library is not thread-safe: every entry point of the data module that
// touches HDF5 holds this lock (recursive: inspect calls the reader).
std::recursive_mutex& library_mutex();

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset();
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// "file.h5:/group/dataset" of an open object, for messages.
std::string describe(hid_t object);
std::string describe(hid_t location, const std::string& name);

Handle create_file(const std::filesystem::path& path);
// InputError if not HDF5. chunk_cache_bytes > 0: each dataset's chunk cache (HDF5's default: 1 MB).
Handle open_file(const std::filesystem::path& path, bool writable = false, std::size_t chunk_cache_bytes = 0);

bool exists(hid_t location, const std::string& name);  // one path component
// Creation properties of `property_class` (H5P_DATASET_CREATE, H5P_GROUP_CREATE) that record no
// object times: a dataset written twice from the same inputs is the same bytes, so its
// fingerprint (core/fs.hpp) names its content, not the day it was built.
Handle untimed_creation(hid_t property_class);
Handle create_group(hid_t location, const std::string& name);
Handle open_group(hid_t location, const std::string& name);    // InputError when missing
Handle open_dataset(hid_t location, const std::string& name);  // InputError when missing

template <class T> hid_t native_type();   // memory type
template <class T> hid_t storage_type();  // little-endian file type
// InputError unless the stored element type is exactly T's kind (integer/float, size, sign).
template <class T> void check_type(hid_t dataset);
std::string type_name(hid_t dataset);  // "int64", "float32", ... of the stored type

std::vector<std::int64_t> dims(hid_t dataset);
std::int64_t rows(hid_t dataset);  // first dimension (0 for a scalar)

// InputError when the dataset's shape declares far more bytes than the file stores for it: a
// damaged header whose exabytes would fail to allocate (std::bad_alloc) or take all memory.
// read_all checks it; callers of read_rows check once per opened dataset (it costs a walk of a
// chunked dataset's index).
void check_stored_size(hid_t dataset);

template <class T> std::vector<T> read_all(hid_t dataset);
// Rows [begin, end) along the first dimension, all of the others: one hyperslab.
template <class T> std::vector<T> read_rows(hid_t dataset, std::int64_t begin, std::int64_t end);

// A dataset with an unlimited first dimension, trailing dims `row_dims`, chunks of `chunk_rows`
// rows, shuffle + deflate(`level`); starts with 0 rows.
template <class T>
Handle create_extendible(hid_t location, const std::string& name, std::span<const std::int64_t> row_dims,
                         std::int64_t chunk_rows, int deflate_level);
// Appends rows (data.size() must be a multiple of the row size).
template <class T> void append_rows(hid_t dataset, std::span<const T> data);
// A fixed-size contiguous dataset written whole.
template <class T>
void write_all(hid_t location, const std::string& name, std::span<const T> data, std::vector<std::int64_t> shape);

bool has_attribute(hid_t object, const std::string& name);
std::vector<std::string> attribute_names(hid_t object);
void write_attribute(hid_t object, const std::string& name, const std::string& value);  // vlen UTF-8
void write_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values);
void write_attribute(hid_t object, const std::string& name, std::int64_t value);
void write_attribute(hid_t object, const std::string& name, const std::vector<std::int64_t>& values);
// Reads accept variable- and fixed-length strings, scalar or 1-D; integers of any width.
std::string read_string_attribute(hid_t object, const std::string& name);
std::vector<std::string> read_strings_attribute(hid_t object, const std::string& name);
std::vector<std::int64_t> read_ints_attribute(hid_t object, const std::string& name);
std::int64_t read_int_attribute(hid_t object, const std::string& name);
// Any scalar string, integer or float attribute as text (partition parameters).
std::string read_attribute_as_text(hid_t object, const std::string& name);

}  // namespace fedvlm::data::h5
