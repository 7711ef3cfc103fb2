"""The file layout of :func:`robustsk.io.save`: a checksummed envelope around safetensors.

::

    robustsk-model\\n                       magic line
    sha256:<64 hex digits>\\n               SHA-256 of everything below
    {"format": 1, "robustsk": ..., ...}\\n  header: versions, payload size
    <payload>                               a safetensors file (tensors + JSON spec)

The digest covers the header and the payload, so a changed or missing byte
anywhere after the magic line is detected before anything is parsed. The
checksum is written here (not taken from a library) because safetensors and
skops verify structure but not content: a flipped bit in a weight would load.
"""
import hashlib
import json
import re

from .errors import CorruptFileError, IncompatibleFileError, PickleFileError

__all__ = ["MAGIC", "FORMAT_VERSION", "pack", "unpack", "sniff"]

MAGIC = b"robustsk-model\n"
#: the newest file format this robustsk writes and reads
FORMAT_VERSION = 1
_DIGEST = re.compile(rb"sha256:([0-9a-f]{64})\n")
_WHAT_TO_DO = "Save the model again with robustsk.io.save, or copy the file again in binary mode."


def pack(header, payload):
    """The file's bytes: magic, digest, ``header`` (a dict) as one JSON line, ``payload``."""
    header = {**header, "payload_bytes": len(payload)}
    body = json.dumps(header, sort_keys=True).encode() + b"\n" + payload
    return MAGIC + b"sha256:" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def sniff(data):
    """What ``data`` is: "robustsk", "skops", or an error saying what it looks like instead."""
    if data.startswith(MAGIC):
        return "robustsk"
    if not data:
        raise CorruptFileError("the file is empty; expected a model saved with "
                               "robustsk.io.save. " + _WHAT_TO_DO)
    if MAGIC.startswith(data):
        raise CorruptFileError(f"the file is truncated: {len(data)} bytes, only part of "
                               "robustsk's header. " + _WHAT_TO_DO)
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        _refuse_pickle("a pickle (protocol %d)" % data[1])
    if data.startswith(b"PK\x03\x04"):
        import io
        import zipfile
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"the file is a damaged zip archive ({exc}). "
                                   + _WHAT_TO_DO) from None
        if "schema.json" in names:
            return "skops"
        if any(name.endswith(".pkl") for name in names):
            _refuse_pickle("a torch.save archive (it holds a pickle)")
        raise CorruptFileError(f"the file is a zip archive of {names[:5]}, neither a robustsk "
                               "model nor a skops file.")
    zlib = len(data) > 1 and data[0] & 0x0F == 8 and (data[0] * 256 + data[1]) % 31 == 0
    if zlib or data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00":
        _refuse_pickle("a compressed file (joblib.dump with compress= writes pickles so)")
    if data[:1] in b"(]}cI" and data.rstrip().endswith(b"."):
        _refuse_pickle("a pickle (protocol 0 or 1)")
    raise CorruptFileError(f"the file is not a robustsk model: it starts with {data[:16]!r}, "
                           f"expected {MAGIC!r}. Give a file written by robustsk.io.save (or "
                           "skops.io.dump).")


def _refuse_pickle(what):
    raise PickleFileError(
        f"the file looks like {what}. Loading a pickle runs code from the file, so "
        "robustsk.io.load refuses it. If you trust the file, load it with pickle.load or "
        "joblib.load and save it again with robustsk.io.save.")


def unpack(data):
    """Check a robustsk file and return ``(header, payload)``; raise a ModelFileError otherwise."""
    rest = data[len(MAGIC):]
    match = _DIGEST.match(rest)
    if match is None:
        if len(rest) < 72:
            raise CorruptFileError(f"the file is truncated: {len(data)} bytes end inside "
                                   "robustsk's header. " + _WHAT_TO_DO)
        raise CorruptFileError("the file's checksum line is damaged: expected 'sha256:' and 64 "
                               f"hex digits, got {rest[:72]!r}. " + _WHAT_TO_DO)
    body = rest[match.end():]
    first, newline, payload = body.partition(b"\n")
    try:
        header = json.loads(first)
    except (ValueError, RecursionError):  # (a crafted header nested thousands deep)
        header = None
    if hashlib.sha256(body).hexdigest().encode() != match.group(1):
        expected = header.get("payload_bytes") if isinstance(header, dict) else None
        if not newline:
            raise CorruptFileError(f"the file is truncated: {len(data)} bytes end inside "
                                   "robustsk's header. " + _WHAT_TO_DO)
        if isinstance(expected, int) and len(payload) < expected:
            raise CorruptFileError(
                f"the file is truncated: its payload has {len(payload)} of the {expected} "
                "bytes that were written. " + _WHAT_TO_DO)
        raise CorruptFileError(
            "the file's SHA-256 does not match the one written with it: it was changed after "
            "it was written (a changed byte, or a copy in text mode). " + _WHAT_TO_DO)
    if not isinstance(header, dict):
        raise CorruptFileError("the file's header is not a JSON object. " + _WHAT_TO_DO)
    check_versions(header)
    return header, payload


def check_versions(header):
    """Refuse a newer file format, or a file from another major version of robustsk."""
    from .. import __version__
    fmt = header.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION or fmt < 1:
        raise IncompatibleFileError(
            f"the file is in format {fmt!r} (written by robustsk {header.get('robustsk')}); "
            f"robustsk {__version__} reads formats 1 to {FORMAT_VERSION}. Upgrade robustsk "
            "(pip install -U robustsk) to load it.")
    saved = str(header.get("robustsk", "?"))
    if saved.split(".")[0] != __version__.split(".")[0]:
        raise IncompatibleFileError(
            f"the file was written by robustsk {saved}, this is robustsk {__version__}: major "
            f"versions differ, so the estimators may have changed. Load it with robustsk "
            f"{saved.split('.')[0]}.x, or refit the model with this version.")
