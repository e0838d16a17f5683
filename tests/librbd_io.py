"""The librbd calls python3-rbd 16.2 does not bind (write-same, compare-and-write), through ctypes.

The image is opened by name through librbd's own C API (src/include/rbd/librbd.h):
``rbd_writesame`` and ``rbd_compare_and_write`` journal ``AioWriteSame`` and
``AioCompareAndWrite`` events on an image with journaling, as any librbd client's would.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_ssize_t, c_uint64, c_void_p

_librados = ctypes.CDLL("librados.so.2")
_librbd = ctypes.CDLL("librbd.so.1")

_librados.rados_create.argtypes = [POINTER(c_void_p), c_char_p]
_librados.rados_conf_read_file.argtypes = [c_void_p, c_char_p]
_librados.rados_connect.argtypes = [c_void_p]
_librados.rados_ioctx_create.argtypes = [c_void_p, c_char_p, POINTER(c_void_p)]
_librados.rados_ioctx_destroy.argtypes = [c_void_p]
_librados.rados_shutdown.argtypes = [c_void_p]
_librbd.rbd_open.argtypes = [c_void_p, c_char_p, POINTER(c_void_p), c_char_p]
_librbd.rbd_close.argtypes = [c_void_p]
_librbd.rbd_writesame.argtypes = [c_void_p, c_uint64, c_size_t, c_char_p, c_size_t, c_int]
_librbd.rbd_writesame.restype = c_ssize_t
_librbd.rbd_compare_and_write.argtypes = [c_void_p, c_uint64, c_size_t, c_char_p, c_char_p, POINTER(c_uint64), c_int]
_librbd.rbd_compare_and_write.restype = c_ssize_t


class RawImage:
    """One image opened through the C API; use as a context manager."""

    def __init__(self, conf: str, pool: str, image: str) -> None:
        self._cluster = c_void_p()
        self._ioctx = c_void_p()
        self._image = c_void_p()
        _check(_librados.rados_create(byref(self._cluster), None), "rados_create")
        _check(_librados.rados_conf_read_file(self._cluster, conf.encode()), "rados_conf_read_file")
        _check(_librados.rados_connect(self._cluster), "rados_connect")
        _check(_librados.rados_ioctx_create(self._cluster, pool.encode(), byref(self._ioctx)), "rados_ioctx_create")
        _check(_librbd.rbd_open(self._ioctx, image.encode(), byref(self._image), None), "rbd_open")

    def write_same(self, offset: int, length: int, data: bytes) -> int:
        return _check(_librbd.rbd_writesame(self._image, offset, length, data, len(data), 0), "rbd_writesame")

    def compare_and_write(self, offset: int, compare: bytes, data: bytes) -> bool:
        """True when the compare matched and the data was written (False on EILSEQ, a mismatch)."""
        assert len(compare) == len(data)
        mismatch = c_uint64(0)
        r = _librbd.rbd_compare_and_write(self._image, offset, len(data), compare, data, byref(mismatch), 0)
        if r == -84:  # EILSEQ
            return False
        _check(r, "rbd_compare_and_write")
        return True

    def close(self) -> None:
        if self._image:
            _librbd.rbd_close(self._image)
            self._image = c_void_p()
        if self._ioctx:
            _librados.rados_ioctx_destroy(self._ioctx)
            self._ioctx = c_void_p()
        if self._cluster:
            _librados.rados_shutdown(self._cluster)
            self._cluster = c_void_p()

    def __enter__(self) -> RawImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check(r: int, what: str) -> int:
    if r < 0:
        raise OSError(-r, f"{what} failed")
    return r
