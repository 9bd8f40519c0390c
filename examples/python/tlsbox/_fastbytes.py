"""A fast path for `list<u8>` values in wasmtime-py's component API.

wasmtime-py passes every byte of a `list<u8>` as its own 32-byte
`wasmtime_component_val_t`, built and read in a Python loop: about 1 µs per
byte, so bulk data crawls at ~0.3 MB/s. The C API has no byte-list value
(upstream: bytecodealliance/wasmtime#11617). Each element is a plain
{kind: u8 at offset 0, u8 payload at offset 8} struct, so the whole array
can be built and read with slice assignment and one memmove instead.

`install()` patches `ListType` only when the layout is the one checked
here; otherwise tlsbox stays on the stock (correct, slow) path.
"""
import ctypes
from ctypes import byref

from wasmtime import _ffi as ffi
from wasmtime.component import _types as types


def install() -> bool:
    """Patch `list<u8>` conversion; False (and nothing patched) if the
    value layout or the patched methods are not what this code expects."""
    val = ffi.wasmtime_component_val_t
    size, kind_at, payload_at = ctypes.sizeof(val), val.kind.offset, val.of.offset
    list_type = types.ListType
    if (size, kind_at, payload_at) != (32, 0, 8) or not hasattr(list_type, "_is_bytes"):
        return False
    if getattr(list_type, "_tlsbox_fast", False):
        return True
    u8 = ffi.WASMTIME_COMPONENT_U8.value
    stock_to_c, stock_from_c = list_type.convert_to_c, list_type.convert_from_c

    def to_c(self, store, value, ptr):
        if not isinstance(value, (bytes, bytearray, memoryview)) or not self._is_bytes():
            return stock_to_c(self, store, value, ptr)
        data = bytes(value)
        n = len(data)
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, n)
        if n:
            array = bytearray(n * size)
            array[kind_at::size] = bytes([u8]) * n
            array[payload_at::size] = data
            ctypes.memmove(raw.data, bytes(array), n * size)
        ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
        ptr.contents.of.list = raw

    def from_c(self, c):
        if not self._is_bytes() or c.kind != ffi.WASMTIME_COMPONENT_LIST.value:
            return stock_from_c(self, c)
        try:
            n = c.of.list.size
            return ctypes.string_at(c.of.list.data, n * size)[payload_at::size] if n else b""
        finally:
            ffi.wasmtime_component_vallist_delete(byref(c.of.list))

    list_type.convert_to_c, list_type.convert_from_c = to_c, from_c
    list_type._tlsbox_fast = True
    return True
