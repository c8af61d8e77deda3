#include "h5.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>

namespace fedvlm::data::h5 {

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    close_ = other.close_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_ != nullptr) close_(id_);  // a destructor cannot report a failed close
  id_ = H5I_INVALID_HID;
}

namespace {

std::string file_name_of(hid_t object) {
  ssize_t length = H5Fget_name(object, nullptr, 0);
  if (length <= 0) return "?";
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  H5Fget_name(object, name.data(), name.size());
  name.resize(static_cast<std::size_t>(length));
  return name;
}

std::string object_name_of(hid_t object) {
  ssize_t length = H5Iget_name(object, nullptr, 0);
  if (length <= 0) return "/";
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  H5Iget_name(object, name.data(), name.size());
  name.resize(static_cast<std::size_t>(length));
  return name;
}

std::int64_t product(std::span<const std::int64_t> values) {
  return std::accumulate(values.begin(), values.end(), std::int64_t{1}, std::multiplies<>());
}

Handle dataspace(std::span<const hsize_t> shape) {
  return Handle(FEDVLM_CHECK_HDF5(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr)), H5Sclose);
}

}  // namespace

std::string describe(hid_t object) { return file_name_of(object) + ":" + object_name_of(object); }

std::string describe(hid_t location, const std::string& name) {
  std::string parent = object_name_of(location);
  return file_name_of(location) + ":" + (parent == "/" ? "" : parent) + "/" + name;
}

Handle create_file(const std::filesystem::path& path) {
  Handle create = untimed_creation(H5P_FILE_CREATE);  // the root group's times too
  return Handle(FEDVLM_CHECK_HDF5(H5Fcreate(path.c_str(), H5F_ACC_EXCL, create.get(), H5P_DEFAULT)), H5Fclose);
}

Handle open_file(const std::filesystem::path& path, bool writable, std::size_t chunk_cache_bytes) {
  if (!std::filesystem::exists(path)) throw InputError(fmt::format("{}: no such file", path.string()));
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(fmt::format("{}: not an HDF5 file", path.string()));
  Handle access(FEDVLM_CHECK_HDF5(H5Pcreate(H5P_FILE_ACCESS)), H5Pclose);
  if (chunk_cache_bytes > 0) FEDVLM_CHECK_HDF5(H5Pset_cache(access.get(), 0, 101, chunk_cache_bytes, 0.75));
  return Handle(FEDVLM_CHECK_HDF5(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, access.get())),
                H5Fclose);
}

bool exists(hid_t location, const std::string& name) {
  return FEDVLM_CHECK_HDF5(H5Lexists(location, name.c_str(), H5P_DEFAULT)) > 0;
}

Handle untimed_creation(hid_t property_class) {
  Handle properties(FEDVLM_CHECK_HDF5(H5Pcreate(property_class)), H5Pclose);
  FEDVLM_CHECK_HDF5(H5Pset_obj_track_times(properties.get(), false));
  return properties;
}

Handle create_group(hid_t location, const std::string& name) {
  Handle create = untimed_creation(H5P_GROUP_CREATE);
  return Handle(FEDVLM_CHECK_HDF5(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, create.get(), H5P_DEFAULT)),
                H5Gclose);
}

Handle open_group(hid_t location, const std::string& name) {
  if (!exists(location, name)) throw InputError(fmt::format("{}: missing group", describe(location, name)));
  return Handle(FEDVLM_CHECK_HDF5(H5Gopen2(location, name.c_str(), H5P_DEFAULT)), H5Gclose);
}

Handle open_dataset(hid_t location, const std::string& name) {
  if (!exists(location, name)) throw InputError(fmt::format("{}: missing dataset", describe(location, name)));
  return Handle(FEDVLM_CHECK_HDF5(H5Dopen2(location, name.c_str(), H5P_DEFAULT)), H5Dclose);
}

template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t storage_type<std::uint8_t>() { return H5T_STD_U8LE; }
template <> hid_t storage_type<std::int32_t>() { return H5T_STD_I32LE; }
template <> hid_t storage_type<std::int64_t>() { return H5T_STD_I64LE; }
template <> hid_t storage_type<float>() { return H5T_IEEE_F32LE; }

std::string type_name(hid_t dataset) {
  Handle type(FEDVLM_CHECK_HDF5(H5Dget_type(dataset)), H5Tclose);
  std::size_t bits = 8 * H5Tget_size(type.get());
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: return fmt::format("{}int{}", H5Tget_sign(type.get()) == H5T_SGN_NONE ? "u" : "", bits);
    case H5T_FLOAT: return fmt::format("float{}", bits);
    case H5T_STRING: return "string";
    default: return "non-numeric";
  }
}

template <class T>
void check_type(hid_t dataset) {
  Handle type(FEDVLM_CHECK_HDF5(H5Dget_type(dataset)), H5Tclose);
  const bool is_float = std::is_floating_point_v<T>;
  H5T_class_t kind = H5Tget_class(type.get());
  bool ok = kind == (is_float ? H5T_FLOAT : H5T_INTEGER) && H5Tget_size(type.get()) == sizeof(T) &&
            (is_float || (H5Tget_sign(type.get()) == H5T_SGN_NONE) == std::is_unsigned_v<T>);
  if (!ok) {
    std::string expected = is_float ? fmt::format("float{}", 8 * sizeof(T))
                                    : fmt::format("{}int{}", std::is_unsigned_v<T> ? "u" : "", 8 * sizeof(T));
    throw InputError(fmt::format("{}: stored as {}, expected {}", describe(dataset), type_name(dataset), expected));
  }
}

std::vector<std::int64_t> dims(hid_t dataset) {
  Handle space(FEDVLM_CHECK_HDF5(H5Dget_space(dataset)), H5Sclose);
  int rank = FEDVLM_CHECK_HDF5(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> extent(static_cast<std::size_t>(rank));
  FEDVLM_CHECK_HDF5(H5Sget_simple_extent_dims(space.get(), extent.data(), nullptr));
  return {extent.begin(), extent.end()};
}

std::int64_t rows(hid_t dataset) {
  auto extent = dims(dataset);
  return extent.empty() ? 0 : extent[0];
}

// A real array is stored whole: deflate, the strongest filter fedvlm and h5py write, shrinks data
// at most about 1032 times. Small arrays are never refused.
constexpr std::uint64_t kMaxStoredExpansion = 2048;
constexpr std::uint64_t kAlwaysReadableBytes = 1 << 20;

void check_stored_size(hid_t dataset) {
  Handle space(FEDVLM_CHECK_HDF5(H5Dget_space(dataset)), H5Sclose);
  const int rank = FEDVLM_CHECK_HDF5(H5Sget_simple_extent_ndims(space.get()));
  std::vector<hsize_t> extent(static_cast<std::size_t>(rank));
  FEDVLM_CHECK_HDF5(H5Sget_simple_extent_dims(space.get(), extent.data(), nullptr));
  Handle type(FEDVLM_CHECK_HDF5(H5Dget_type(dataset)), H5Tclose);
  std::uint64_t bytes = H5Tget_size(type.get());
  bool overflow = false;
  for (hsize_t d : extent) overflow |= __builtin_mul_overflow(bytes, d, &bytes);
  const std::uint64_t stored = H5Dget_storage_size(dataset);
  if (overflow || (bytes > kAlwaysReadableBytes && bytes / kMaxStoredExpansion > stored))
    throw InputError(fmt::format("{}: shape [{}] declares {} bytes, but the file stores {} bytes for it (damaged?)",
                                 describe(dataset), fmt::join(extent, ", "),
                                 overflow ? std::string("more than 2^64") : std::to_string(bytes), stored));
}

template <class T>
std::vector<T> read_all(hid_t dataset) {
  check_type<T>(dataset);
  check_stored_size(dataset);
  std::vector<T> data(static_cast<std::size_t>(product(dims(dataset))));
  if (!data.empty())
    FEDVLM_CHECK_HDF5(H5Dread(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()));
  return data;
}

template <class T>
std::vector<T> read_rows(hid_t dataset, std::int64_t begin, std::int64_t end) {
  check_type<T>(dataset);
  auto extent = dims(dataset);
  if (extent.empty() || begin < 0 || end < begin || end > extent[0])
    throw InputError(fmt::format("{}: rows [{}, {}) out of range (the dataset has {} rows)", describe(dataset), begin,
                                 end, extent.empty() ? 0 : extent[0]));
  std::int64_t row_size = product(std::span(extent).subspan(1)), values = 0;
  // Per read, only what is cheap: check_stored_size sums a chunked dataset's chunk index.
  if (row_size < 0 || __builtin_mul_overflow(end - begin, row_size, &values))
    throw InputError(fmt::format("{}: rows [{}, {}) of {} values overflow (damaged?)", describe(dataset), begin, end, row_size));
  std::vector<T> data(static_cast<std::size_t>(values));
  if (data.empty()) return data;
  std::vector<hsize_t> start(extent.size(), 0), count(extent.begin(), extent.end());
  start[0] = static_cast<hsize_t>(begin);
  count[0] = static_cast<hsize_t>(end - begin);
  Handle file_space(FEDVLM_CHECK_HDF5(H5Dget_space(dataset)), H5Sclose);
  FEDVLM_CHECK_HDF5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr));
  Handle memory_space = dataspace(count);  // the same shape as the selection keeps HDF5 on its fast path
  FEDVLM_CHECK_HDF5(H5Dread(dataset, native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, data.data()));
  return data;
}

template <class T>
Handle create_extendible(hid_t location, const std::string& name, std::span<const std::int64_t> row_dims,
                         std::int64_t chunk_rows, int deflate_level) {
  std::vector<hsize_t> shape{0}, max_shape{H5S_UNLIMITED}, chunk{static_cast<hsize_t>(std::max<std::int64_t>(chunk_rows, 1))};
  for (std::int64_t d : row_dims) {
    shape.push_back(static_cast<hsize_t>(d));
    max_shape.push_back(static_cast<hsize_t>(d));
    chunk.push_back(static_cast<hsize_t>(d));
  }
  Handle space(FEDVLM_CHECK_HDF5(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), max_shape.data())),
               H5Sclose);
  Handle create = untimed_creation(H5P_DATASET_CREATE);
  FEDVLM_CHECK_HDF5(H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data()));
  FEDVLM_CHECK_HDF5(H5Pset_shuffle(create.get()));
  FEDVLM_CHECK_HDF5(H5Pset_deflate(create.get(), static_cast<unsigned>(deflate_level)));
  // A cache that holds a few chunks, so per-client appends do not recompress a partial chunk.
  Handle access(FEDVLM_CHECK_HDF5(H5Pcreate(H5P_DATASET_ACCESS)), H5Pclose);
  FEDVLM_CHECK_HDF5(H5Pset_chunk_cache(access.get(), 521, 16 << 20, 0.75));
  return Handle(FEDVLM_CHECK_HDF5(H5Dcreate2(location, name.c_str(), storage_type<T>(), space.get(), H5P_DEFAULT,
                                             create.get(), access.get())),
                H5Dclose);
}

template <class T>
void append_rows(hid_t dataset, std::span<const T> data) {
  auto extent = dims(dataset);
  std::int64_t row_size = product(std::span(extent).subspan(1));
  FEDVLM_CHECK(row_size > 0 && static_cast<std::int64_t>(data.size()) % row_size == 0,
               "{}: appending {} values, not a whole number of rows of {}", describe(dataset), data.size(), row_size);
  std::int64_t new_rows = static_cast<std::int64_t>(data.size()) / row_size;
  if (new_rows == 0) return;
  std::vector<hsize_t> start(extent.size(), 0), count(extent.begin(), extent.end()), grown(extent.begin(), extent.end());
  start[0] = static_cast<hsize_t>(extent[0]);
  count[0] = static_cast<hsize_t>(new_rows);
  grown[0] = static_cast<hsize_t>(extent[0] + new_rows);
  FEDVLM_CHECK_HDF5(H5Dset_extent(dataset, grown.data()));
  Handle file_space(FEDVLM_CHECK_HDF5(H5Dget_space(dataset)), H5Sclose);
  FEDVLM_CHECK_HDF5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr));
  Handle memory_space = dataspace(count);
  FEDVLM_CHECK_HDF5(H5Dwrite(dataset, native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT, data.data()));
}

template <class T>
void write_all(hid_t location, const std::string& name, std::span<const T> data, std::vector<std::int64_t> shape) {
  FEDVLM_CHECK(product(shape) == static_cast<std::int64_t>(data.size()), "{}: {} values for shape [{}]",
               describe(location, name), data.size(), fmt::join(shape, ", "));
  std::vector<hsize_t> extent(shape.begin(), shape.end());
  Handle space = dataspace(extent);
  Handle create = untimed_creation(H5P_DATASET_CREATE);
  Handle dataset(FEDVLM_CHECK_HDF5(H5Dcreate2(location, name.c_str(), storage_type<T>(), space.get(), H5P_DEFAULT,
                                              create.get(), H5P_DEFAULT)),
                 H5Dclose);
  if (!data.empty())
    FEDVLM_CHECK_HDF5(H5Dwrite(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()));
}

#define FEDVLM_H5_INSTANTIATE(T)                                                                            \
  template void check_type<T>(hid_t);                                                                       \
  template std::vector<T> read_all<T>(hid_t);                                                               \
  template std::vector<T> read_rows<T>(hid_t, std::int64_t, std::int64_t);                                  \
  template Handle create_extendible<T>(hid_t, const std::string&, std::span<const std::int64_t>, std::int64_t, int); \
  template void append_rows<T>(hid_t, std::span<const T>);                                                  \
  template void write_all<T>(hid_t, const std::string&, std::span<const T>, std::vector<std::int64_t>);
FEDVLM_H5_INSTANTIATE(std::uint8_t)
FEDVLM_H5_INSTANTIATE(std::int32_t)
FEDVLM_H5_INSTANTIATE(std::int64_t)
FEDVLM_H5_INSTANTIATE(float)
#undef FEDVLM_H5_INSTANTIATE

}  // namespace fedvlm::data::h5
