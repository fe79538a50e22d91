"""Headers before data: what an array file in the state folder declares is checked before any of
its data is read. No TensorFlow.

The checkpoint and the training progress are HDF5 files, the index cache is a zip of .npy files.
Both formats say in a few bytes how large an array is, and a reader trusting them allocates
what they say: 163 KB of gzip declared a 14 GB array, 4 MB of deflate a 4 GB one. So every
dataset or member is checked against the shape, type and size the model or the notes allow,
and refused (`Refused`, with the reason in words) before it is read. A caller turns a refusal
into its own outcome: a cache or saved progress is ignored with a notice, a checkpoint is one
line. h5py is imported only when an HDF5 file is opened.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tinychat.files import open_regular

MAX_OBJECTS = 10_000  # groups and datasets in one HDF5 file: a checkpoint of 32 layers has ~450
OBJECT_BYTES = 4096  # HDF5's own bytes per object (headers, B-trees, heaps), generously
NPY_HEADER_BYTES = 4096  # a .npy header of one array is ~128 bytes


class Refused(ValueError):
    """A file's header declares something the model or the notes cannot have made."""


def shown(shape: tuple[int, ...]) -> str:
    return str(tuple(int(n) for n in shape))


# ---------------------------------------------------------------------------- HDF5


@contextlib.contextmanager
def open_hdf5(path: Path | str, limit: int) -> Iterator[Any]:
    """An h5py File read through a descriptor checked to be a regular file of at most `limit`
    bytes (Refused otherwise); OSError when it cannot be opened."""
    import h5py

    descriptor = open_regular(path)
    with os.fdopen(descriptor, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise Refused(f"is {size:,} bytes, more than the {limit:,} it can take")
        with h5py.File(handle, "r") as file:
            yield file


def bytes_besides_datasets(file: Any, size: int) -> int:
    """Bytes of the file not taken by its datasets' stored data: what its attributes can hold.

    A text attribute of variable length declares no size before it is read; the file's size
    less its datasets' (each stored size is in its header) bounds it. Refused past MAX_OBJECTS.
    """
    import h5py

    stored, objects = 0, 0

    def count(name: str, item: Any) -> bool | None:
        nonlocal stored, objects
        objects += 1
        if isinstance(item, h5py.Dataset):
            stored += item.id.get_storage_size()
        return True if objects > MAX_OBJECTS else None  # a true value stops the visit

    file.visititems(count)
    if objects > MAX_OBJECTS:
        raise Refused(f"holds more than {MAX_OBJECTS:,} HDF5 objects")
    return max(0, size - stored - OBJECT_BYTES * (objects + 1))


def text_attribute(file: Any, name: str, limit: int) -> str | None:
    """The text attribute `name` of `file` (None if absent): one string, at most `limit` bytes."""
    import h5py

    if name not in file.attrs:
        return None
    attribute = h5py.h5a.open(file.id, name.encode())
    if attribute.shape != () or h5py.check_string_dtype(attribute.dtype) is None:
        raise Refused(f"attribute {name} is not one text")
    if attribute.get_storage_size() > limit:  # a fixed-length text says its size
        raise Refused(f"attribute {name} is larger than {limit:,} bytes")
    value = file.attrs[name]
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    if len(text) > limit:
        raise Refused(f"attribute {name} is larger than {limit:,} bytes")
    return text


def checked_dataset(file: Any, name: str, shape: tuple[int, ...], kinds: str = "f") -> Any:
    """Dataset `name` of `file` after its header checks out, ready to be read whole.

    Refused unless every part of its name is a plain (hard) link, it is a dataset of one of the
    dtype kinds `kinds` ('f' real, 'i'/'u' whole numbers) and exactly `shape`, and its data is
    in this file (not an external raw file nor a virtual dataset, either of which could name a
    FIFO or /dev/zero).
    """
    import h5py

    parts = name.split("/")
    for end in range(1, len(parts) + 1):
        link = file.get("/".join(parts[:end]), getlink=True)
        if link is None:
            raise Refused(f"{name} is missing")
        if not isinstance(link, h5py.HardLink):
            raise Refused(f"{name} is a link to elsewhere, not an array of this file")
    dataset = file[name]
    if not isinstance(dataset, h5py.Dataset):
        raise Refused(f"{name} is not an array")
    if dataset.dtype.kind not in kinds or dataset.dtype.itemsize > 8:
        wanted = "whole numbers" if "f" not in kinds else "real numbers"
        raise Refused(f"{name} holds {dataset.dtype} values, not {wanted}")
    if dataset.shape != tuple(shape):
        raise Refused(f"{name} has shape {shown(dataset.shape)}, expected {shown(shape)}")
    if dataset.external or dataset.is_virtual:
        raise Refused(f"{name} keeps its data outside this file")
    return dataset


# ---------------------------------------------------------------------------- .npz


def npz_arrays(data: bytes, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays of an .npz file held in `data`, one per name of `kinds` (name -> dtype kinds
    allowed, e.g. 'iu'), each read only after its header checks out.

    np.savez stores its members uncompressed, so a member's declared shape and type must
    account for exactly the bytes the member holds, and those are within `data`: a compressed
    member, a missing or extra one, a pickled object or a header declaring more than its bytes
    is Refused before any array is made.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise Refused(f"is not a readable .npz file ({type(error).__name__})") from None
    names = [member.filename for member in members]
    expected = sorted(f"{name}.npy" for name in kinds)
    if sorted(names) != expected:
        raise Refused("does not hold the arrays tinychat writes")
    arrays = {}
    for member in members:
        name = member.filename.removesuffix(".npy")
        if member.compress_type != zipfile.ZIP_STORED:
            raise Refused(f"{name} is compressed, and tinychat writes none")
        if member.file_size > len(data):
            raise Refused(f"{name} declares {member.file_size:,} bytes in a smaller file")
        arrays[name] = _npy_member(archive, member, name, kinds[name])
    return arrays


def _npy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, kinds: str):
    """One member's array, its .npy header checked against the member's size first."""
    try:
        with archive.open(member) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise Refused(f"{name} has a .npy header of version {version}")
            header = stream.tell()
            if header > NPY_HEADER_BYTES or dtype.hasobject or dtype.kind not in kinds:
                raise Refused(f"{name} holds {dtype} values")
            count = math.prod(shape)
            if count * dtype.itemsize != member.file_size - header:
                raise Refused(
                    f"{name} declares shape {shown(shape)} of {dtype}, which is not the"
                    f" {member.file_size - header:,} bytes it holds"
                )
            raw = stream.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise Refused(f"{name} is cut short")
    except Refused:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise Refused(f"{name} cannot be read ({type(error).__name__})") from None
    array = np.frombuffer(raw, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")
