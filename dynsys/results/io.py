"""Saving and loading results: one ``.npz`` file per result, written atomically.

The file is a zip archive that :func:`numpy.load` reads: every array of the result is a ``.npy``
member named by its path in the result (``W.npy``, ``classes/0/W.npy``), and a text member
``meta.json`` holds the rest: the result type, its scalar fields, the nested results, the model, the
call's arguments, the seed, the dynsys version and the format version. ``docs/results.md`` describes
the format and how to read it with plain NumPy and ``json``.

One generic walk over dataclass fields encodes every result (nested results, tuples, lists, dicts,
enums, None, NumPy scalars and arrays); :class:`Result` gives each result type ``save`` and ``load``.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import json
import math
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__
from . import display as _display

#: Written into every file; :func:`load` refuses a file whose format version is newer.
FORMAT = "dynsys-result"
FORMAT_VERSION = 1
#: The zip member that holds the metadata.
META = "meta.json"

_TYPES: dict[str, type] = {}

# The keys that mark an encoded value in meta.json (every JSON object in the field tree has one).
_TAGS = ("array", "scalar", "float", "enum", "tuple", "dict", "result")


class ResultFileError(ValueError):
    """A file that is not a readable dynsys result (the message names the path and the problem)."""


def register(cls: type) -> type:
    """Make a result class loadable by its name (done by subclassing :class:`Result`)."""
    name = cls.__name__
    if _TYPES.get(name, cls) is not cls:
        raise TypeError(f"two result types are named {name!r}: {_TYPES[name].__module__} and {cls.__module__}")
    _TYPES[name] = cls
    return cls


class Result:
    """Mixin of the frozen result dataclasses: ``save``/``load``, a short ``repr`` and ``summary()``.

    A subclass sets ``_call_fields``: the names of its fields that are arguments of the call that
    produced it (copied into the metadata's ``"call"``). It overrides ``_headline()`` (one line, the
    ``repr``) and, where a field-by-field listing is not the best summary, ``summary()``. The dataclass
    decorator must be given ``repr=False`` so that this ``__repr__`` is kept.
    """

    __slots__ = ()
    _call_fields: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register(cls)

    def save(self, path, *, model=None, call=None, meta=None, compress=False) -> Path:
        """Write this result to ``path`` (``.npz`` appended if missing); see :func:`save`."""
        return save(self, path, model=model, call=call, meta=meta, compress=compress)

    @classmethod
    def load(cls, path):
        """Read a result of this type written by :meth:`save` (a file of another type is refused)."""
        return load(path, expect=cls)

    def _headline(self) -> str:
        return ", ".join(f"{f.name}={_display.brief(getattr(self, f.name))}"
                         for f in dataclasses.fields(self))

    def summary(self) -> str:
        """A few lines: the headline, then each field (arrays by shape and range, statuses by name)."""
        return f"{type(self).__name__}: {self._headline()}\n{_display.field_lines(self)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._headline()})"

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------------- encoding
def _dynsys_class(module: str, name: str, path, what: str, base: type = object) -> type:
    """The class ``module.name`` (a subclass of ``base``) from inside dynsys.

    A file never makes dynsys import a module outside it, nor call anything but a class.
    """
    if module != "dynsys" and not module.startswith("dynsys."):
        raise ResultFileError(f"{path}: {what} {module}.{name} is outside dynsys; refusing to import it")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        # a class moved since the file was written: the public namespace still has it
        obj = getattr(importlib.import_module("dynsys"), name, None)
    if obj is None:
        raise ResultFileError(f"{path}: {what} {module}.{name} does not exist in this dynsys "
                              f"({_version()})")
    if not (isinstance(obj, type) and issubclass(obj, base)):
        kind = "a class" if base is object else f"a subclass of {base.__name__}"
        raise ResultFileError(f"{path}: {what} {module}.{name} is not {kind}")
    return obj


class _Writer:
    """Encodes a value tree into JSON-able data, collecting its arrays by member name."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray, key: str) -> dict:
        if a.dtype.hasobject:
            raise TypeError(f"cannot save {key.lstrip('_')}: an object array (dtype {a.dtype}); results hold plain arrays")
        self.arrays[key] = a
        return {"array": key, "dtype": a.dtype.str, "shape": list(a.shape), "writeable": bool(a.flags.writeable)}

    def encode(self, x, key: str):
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, enum.Enum):
            t = type(x)
            return {"enum": t.__name__, "module": t.__module__, "name": x.name, "value": x.value}
        if isinstance(x, int):
            return int(x)
        if isinstance(x, float):
            return float(x) if math.isfinite(x) else {"float": repr(float(x))}
        if isinstance(x, np.generic):
            return {"scalar": self.array(np.asarray(x), key)["array"], "dtype": x.dtype.str}
        if isinstance(x, np.ndarray):
            return self.array(x, key)
        if isinstance(x, Result) and dataclasses.is_dataclass(x):
            return {"result": type(x).__name__, "module": type(x).__module__,
                    "fields": {f.name: self.encode(getattr(x, f.name), f"{key}/{f.name}".lstrip("/"))
                               for f in dataclasses.fields(x)}}
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return {"tuple": [self.encode(v, f"{key}/{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [self.encode(v, f"{key}/{i}") for i, v in enumerate(x)]
        if isinstance(x, dict) and all(isinstance(k, str) for k in x):
            return {"dict": {k: self.encode(v, f"{key}/{k}") for k, v in x.items()}}
        raise TypeError(f"cannot save {key.lstrip('_') or 'the value'}: a {type(x).__name__} ({x!r:.80}); results "
                        f"and metadata hold numbers, strings, enums, None, arrays, tuples, lists, "
                        f"dicts with string keys and results")

    def model(self, model) -> dict:
        """A model as its class and constructor arguments (each read back as the attribute of that name)."""
        cls = type(model)
        args = {}
        try:
            params = inspect.signature(cls).parameters
        except ValueError:  # no Python-level constructor (a toy system): rebuilt by its class alone
            params = {}
        for name, p in params.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if not hasattr(model, name):
                raise TypeError(f"cannot save model {cls.__name__}: its constructor argument {name!r} "
                                f"is not an attribute, so the model cannot be rebuilt")
            args[name] = self.encode(getattr(model, name), f"_model/{name}")
        return {"class": cls.__name__, "module": cls.__module__, "args": args}


class _Reader:
    """Decodes the JSON-able tree written by :class:`_Writer`, reading arrays from the zip."""

    def __init__(self, zf: zipfile.ZipFile, path):
        self.zf, self.path = zf, path

    def fail(self, problem: str):
        raise ResultFileError(f"{self.path}: {problem}")

    def array(self, node: dict) -> np.ndarray:
        key = node["array"]
        try:
            with self.zf.open(f"{key}.npy") as f:
                a = np.lib.format.read_array(f, allow_pickle=False)
        except KeyError:
            self.fail(f"array member {key}.npy is missing (truncated or edited file)")
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            self.fail(f"array member {key}.npy cannot be read ({exc})")
        if a.dtype.str != node["dtype"] or list(a.shape) != node["shape"]:
            self.fail(f"array member {key}.npy has dtype {a.dtype.str} shape {list(a.shape)}, but "
                      f"meta.json says dtype {node['dtype']} shape {node['shape']}")
        a.setflags(write=bool(node["writeable"]))
        return a

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            self.fail(f"meta.json holds an unexpected value {node!r:.80}")
        tag = next((t for t in _TAGS if t in node), None)
        if tag == "array":
            return self.array(node)
        if tag == "scalar":
            return self.array({"array": node["scalar"], "dtype": node["dtype"], "shape": [],
                               "writeable": True})[()]
        if tag == "float":
            return float(node["float"])
        if tag == "enum":
            cls = _dynsys_class(node["module"], node["enum"], self.path, "enum", enum.Enum)
            return cls[node["name"]]
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["tuple"])
        if tag == "dict":
            return {k: self.decode(v) for k, v in node["dict"].items()}
        if tag == "result":
            cls = _result_type(node["result"], node.get("module", ""), self.path)
            kwargs = {k: self.decode(v) for k, v in node["fields"].items()}
            try:
                return cls(**kwargs)
            except TypeError as exc:
                self.fail(f"the fields of {node['result']} do not match this dynsys's ({exc})")
        self.fail(f"meta.json holds an object with none of the keys {_TAGS}: {node!r:.80}")


def _result_type(name: str, module: str, path) -> type:
    if name not in _TYPES and module:
        _dynsys_class(module, name, path, "result type", Result)  # importing the module registers it
    if name not in _TYPES:
        raise ResultFileError(f"{path}: unknown result type {name!r} (this dynsys knows {sorted(_TYPES)})")
    return _TYPES[name]


def _version() -> str:
    return f"dynsys {__version__}"


def _npz_path(path) -> Path:
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


# ----------------------------------------------------------------------------------- save/load
def save(result, path, *, model=None, call=None, meta=None, compress=False) -> Path:
    """Write ``result`` to ``path`` as one ``.npz`` file (``.npz`` appended when missing), atomically.

    Parameters
    ----------
    result : Result
        Any dynsys result (a frozen dataclass subclassing :class:`Result`).
    path : str or path-like
    model : TeacherStudent, toy system or ReducedDynamics, optional
        The model the result was computed for, stored by its constructor arguments and rebuilt by
        :func:`load_model`.
    call : dict, optional
        Arguments of the call, added to the ones the result knows itself (its ``_call_fields``).
    meta : dict, optional
        Anything else to keep with the result (e.g. wall time, a sampler's description).
    compress : bool, default False
        Deflate the members (smaller for integer and repetitive arrays; slower; float data rarely
        shrinks much).

    Returns
    -------
    pathlib.Path
        The file written. It is written to a temporary file in the same folder and renamed, so a
        killed job leaves either the old file or the whole new one.
    """
    if not (isinstance(result, Result) and dataclasses.is_dataclass(result)):
        raise TypeError(f"save needs a dynsys result; got {type(result).__name__}")
    w = _Writer()
    known = {name: getattr(result, name) for name in type(result)._call_fields}
    if call is not None and not isinstance(call, dict):
        raise TypeError(f"call must be a dict of the call's arguments; got {type(call).__name__}")
    known.update(call or {})
    seed = getattr(result, "seed", known.get("seed"))
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "type": type(result).__name__,
        "module": type(result).__module__,
        "dynsys_version": __version__,
        "model": None if model is None else w.model(model),
        "call": w.encode(known, "_call")["dict"],
        "seed": w.encode(seed, "_seed"),
        "meta": w.encode(dict(meta or {}), "_meta")["dict"],
        "fields": w.encode(result, "")["fields"],
    }
    text = _dumps(doc) + "\n"
    path = _npz_path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: cannot save, the folder {path.parent} does not exist")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(f):
        with zipfile.ZipFile(f, "w", compression=method, allowZip64=True) as zf:
            # a fixed date, as the array members get: the same result always gives the same bytes
            zf.writestr(zipfile.ZipInfo(META, date_time=(1980, 1, 1, 0, 0, 0)), text, compress_type=method)
            for key, a in w.arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as m:
                    np.lib.format.write_array(m, a, allow_pickle=False)

    _atomic_write(path, write)
    return path


def _dumps(x, indent: str = "") -> str:
    """Strict JSON, one line per value unless that line would be long (array entries stay on one line)."""
    flat = json.dumps(x, allow_nan=False)
    if len(indent) + len(flat) <= 100 or not isinstance(x, (dict, list)) or not x:
        return flat
    inner = indent + "  "
    if isinstance(x, dict):
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in x.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in x) + f"\n{indent}]"


def _atomic_write(path: Path, write) -> None:
    # A SIGKILL leaves the hidden temporary file behind (nothing can remove it), never a half target.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _open(path):
    """(zipfile, metadata dict) of a result file, with every check that needs no array."""
    path = _npz_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such result file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ResultFileError(f"{path}: not a dynsys result file (not an .npz/zip archive: {exc})") from None
    try:
        try:
            raw = zf.read(META)
        except KeyError:
            raise ResultFileError(f"{path}: no {META} member, so not written by dynsys's save (a plain "
                                  f"numpy .npz?)") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise ResultFileError(f"{path}: {META} cannot be read ({exc})") from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise ResultFileError(f"{path}: {META} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ResultFileError(f"{path}: {META} does not describe a dynsys result (format "
                                  f"{doc.get('format') if isinstance(doc, dict) else None!r}, expected {FORMAT!r})")
        version = doc.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ResultFileError(f"{path}: written in result format version {version} (by dynsys "
                                  f"{doc.get('dynsys_version')}), newer than this {_version()} reads "
                                  f"(up to {FORMAT_VERSION}): upgrade dynsys to load it")
    except BaseException:
        zf.close()
        raise
    return zf, doc


def read_meta(path) -> dict:
    """The metadata of a result file as stored (plain JSON data; arrays are not read).

    Keys: ``format``, ``format_version``, ``type``, ``module``, ``dynsys_version``, ``model``,
    ``call``, ``seed``, ``meta`` and ``fields`` (see ``docs/results.md``).
    """
    zf, doc = _open(path)
    zf.close()
    return doc


def load(path, expect: type | None = None):
    """Read a result written by :func:`save` (any type, or only ``expect`` and its subclasses).

    Arrays come back with the dtype, shape and read-only flag they were saved with, enums as enums,
    tuples as tuples. Raises :class:`ResultFileError` (naming the path and the problem) for a file that
    is not a dynsys result, is damaged, was written by a newer format version, or holds another type.
    """
    zf, doc = _open(path)
    path = _npz_path(path)
    with zf:
        cls = _result_type(doc.get("type", ""), doc.get("module", ""), path)
        if expect is not None and not issubclass(cls, expect):
            raise ResultFileError(f"{path}: holds a {cls.__name__}, not a {expect.__name__}; load it with "
                                  f"{cls.__name__}.load(path) or dynsys.results.load(path)")
        return _Reader(zf, path).decode({"result": doc["type"], "module": doc.get("module", ""),
                                         "fields": doc["fields"]})


def load_model(path):
    """Rebuild the model stored with a result (None when none was given to ``save``)."""
    zf, doc = _open(path)
    path = _npz_path(path)
    with zf:
        spec = doc.get("model")
        if spec is None:
            return None
        cls = _dynsys_class(spec["module"], spec["class"], path, "model class")
        args = {k: _Reader(zf, path).decode(v) for k, v in spec["args"].items()}
        return cls(**args)

