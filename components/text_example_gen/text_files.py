"""A data file as UTF-8 text: the binary-file check, decoding, and its lines read a chunk at a time.

A file whose first block is not text (a known binary signature, UTF-16, NUL bytes, mostly invalid
UTF-8) is refused as a binary file by `check_text`, before its rows are parsed; a few invalid
bytes in text are left to row rejection.

`file_lines` gives the physical lines of a file read `CHUNK_BYTES` at a time: memory holds one
chunk and the line being read, never the whole file. The UTF-8 decoding (BOM dropped,
undecodable bytes kept as surrogates) and the line endings (\\n, \\r\\n or \\r, as the csv module
counts them) are those of `decode` and `split_lines` on the whole file, wherever the chunks end,
so line numbers do not depend on the chunk size. A line longer than `MAX_RECORD_CHARS` is not
held whole: it comes as a `LongLine` holding only its start, which the parsers reject as
`record_too_long`.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from components.text_example_gen.rows import MAX_CONTENT_CHARS, SURROGATE, InputError

HEAD_BYTES = 1 << 20  # what format detection (and the preflight) reads of a file
BINARY_CHECK_BYTES = 4096  # what `check_text` looks at: the first block of a file
MAX_INVALID_UTF8_SHARE = 0.1  # more undecodable bytes than this in that block: a binary file
CHUNK_BYTES = 1 << 20  # what `file_lines` (and so `read_rows`) reads of a file at a time
MAX_RECORD_CHARS = 1 << 22  # a longer record is rejected as record_too_long


def decode(data: bytes) -> str:
    """UTF-8 text with any BOM removed; invalid bytes survive as surrogates (see `display`)."""
    text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str) -> list[str]:
    """Physical lines with their endings (\\n, \\r\\n or \\r), as the csv module counts them."""
    return io.StringIO(text, newline="").readlines()


# -- the binary-file check --------------------------------------------------------------------------
# Leading bytes of file types that are not text, and what to do about them.
_MAGIC = (
    (b"\x1f\x8b", "a gzip archive", "decompress it (gunzip) first"),
    (b"PK\x03\x04", "a zip archive (or an .xlsx/.docx file)", "extract it, or save a sheet as CSV"),
    (b"BZh", "a bzip2 archive", "decompress it (bunzip2) first"),
    (b"\xfd7zXZ\x00", "an xz archive", "decompress it (unxz) first"),
    (b"(\xb5/\xfd", "a zstd archive", "decompress it (unzstd) first"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "point data.data at the text data"),
    (b"\xff\xd8\xff", "a JPEG image", "point data.data at the text data"),
    (b"GIF8", "a GIF image", "point data.data at the text data"),
    (b"%PDF-", "a PDF document", "export its text as CSV first"),
    (b"PAR1", "a Parquet file", "export it as CSV or JSON Lines first"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_EXPECTED_TEXT = "expected CSV, TSV or JSON Lines (UTF-8 text)"


def check_text(path: str, head: bytes) -> None:
    """Raises InputError when the first block of a CSV/TSV/JSON Lines file is not text.

    Looks at the first `BINARY_CHECK_BYTES` only: a known binary signature (gzip, zip, images,
    PDF, Parquet), a UTF-16 byte order mark, a NUL byte, or more than `MAX_INVALID_UTF8_SHARE`
    of the bytes not valid UTF-8. A few invalid bytes in text are left to row rejection.
    """
    block = head[:BINARY_CHECK_BYTES]
    for magic, kind, advice in _MAGIC:
        if block.startswith(magic):
            raise InputError(
                f"{path} looks like a binary file ({kind}: it starts with bytes "
                f"{magic.hex(' ')}), not text: {_EXPECTED_TEXT}; {advice}"
            )
    if block.startswith(_UTF16_BOMS):
        raise InputError(
            f"{path} is UTF-16 text (it starts with the byte order mark {block[:2].hex(' ')}), "
            f"not UTF-8: {_EXPECTED_TEXT}; convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    nul = block.find(b"\x00")
    if nul >= 0:
        raise InputError(
            f"{path} looks like a binary file (NUL bytes at byte {nul}), not text: "
            f"{_EXPECTED_TEXT}; point data.data at the text data"
        )
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(block, final=False)
    invalid = SURROGATE.findall(text)
    if block and len(invalid) > MAX_INVALID_UTF8_SHARE * len(block):
        first = SURROGATE.search(text)
        at = len(text[: first.start()].encode("utf-8", "surrogateescape"))
        raise InputError(
            f"{path} looks like a binary file ({len(invalid)} of its first {len(block)} bytes "
            f"are not valid UTF-8, the first at byte {at}), not text: {_EXPECTED_TEXT}; if it "
            "is text in another encoding, convert it to UTF-8"
        )


# -- reading a file a chunk at a time ---------------------------------------------------------------
class LongLine(str):
    """The start of a physical line longer than the record limit (the rest was read and dropped)."""


class _ChunkReader(io.RawIOBase):
    """A binary handle (a local file, tf.io.gfile, BytesIO) read at most `chunk_bytes` at a time."""

    def __init__(self, handle: BinaryIO, chunk_bytes: int):
        super().__init__()
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be at least 1, got {chunk_bytes}")
        self._handle = handle
        self._chunk_bytes = chunk_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(min(len(buffer), self._chunk_bytes))
        buffer[: len(data)] = data
        return len(data)


def _physical_lines(readline: Callable[[int], str], max_chars: int) -> Iterator[str]:
    """Physical lines (with their endings) from a text stream opened with newline="".

    A line longer than `max_chars` (its ending included) comes as a `LongLine` holding only its
    start (what `display` shows); the rest of it is read piece by piece and dropped.
    """
    limit = max_chars + 1
    ahead = None
    while True:
        piece = readline(limit) if ahead is None else ahead
        ahead = None
        if not piece:
            return
        if len(piece) <= max_chars:  # readline stopped at a line ending, or at the end
            yield piece
            continue
        start = piece  # kept up to what `display` shows
        while piece and not piece.endswith(("\n", "\r")):
            piece = readline(limit)
            if len(start) <= MAX_CONTENT_CHARS:
                start += piece
        if len(piece) == limit and piece.endswith("\r"):  # the limit may split a \r\n
            ahead = readline(limit)
            if ahead == "\n":
                ahead = None
        yield LongLine(start[: MAX_CONTENT_CHARS + 1])


def file_lines(
    handle: BinaryIO, chunk_bytes: int = CHUNK_BYTES, max_line_chars: int = MAX_RECORD_CHARS
) -> Iterator[str]:
    """The physical lines of a UTF-8 file, read `chunk_bytes` at a time: the lines and the text of
    `split_lines(decode(<whole file>))`, whatever the chunk size (lines longer than
    `max_line_chars` come as their start only, see `_physical_lines`)."""
    text = io.TextIOWrapper(
        io.BufferedReader(_ChunkReader(handle, chunk_bytes), buffer_size=chunk_bytes),
        encoding="utf-8-sig",  # drops a BOM at the start, as `decode` does
        errors="surrogateescape",
        newline="",  # \n, \r\n and \r end lines and are kept, as in `split_lines`
    )
    return _physical_lines(text.readline, max_line_chars)
