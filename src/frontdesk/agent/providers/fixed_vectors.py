"""The embeddings of the responder's fixed texts, computed once and shipped with the code.

Owns `fixed_vectors.npz` (beside this module): the vectors of `BACKGROUND` and of
`INTENT_EXAMPLES` (`knowledge_texts.py`) for the model `embedder.MODEL_ID`, with the
SHA-256 of the model and the texts they were made from. A worker seeds its embedder's cache
with them at start (`seed_fixed_vectors`) instead of spending ~1.6 s of CPU embedding the
same 100-odd sentences in every process; when the texts or the model changed and the file
was not regenerated, it falls back to embedding them (and a unit test fails, so the file
does not stay stale). Regenerate with:

    python -m frontdesk.agent.providers.fixed_vectors

Must not: download anything, or hold tenant data.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from frontdesk.agent.providers.embedder import MODEL_ID, TextEmbedder, Vectors
from frontdesk.agent.providers.knowledge_texts import BACKGROUND, INTENT_EXAMPLES

log = logging.getLogger(__name__)

FIXED_VECTORS = Path(__file__).with_name("fixed_vectors.npz")


def fixed_texts() -> list[str]:
    """Every fixed text, in the file's row order (all embedded as queries)."""
    texts = list(BACKGROUND)
    for examples in INTENT_EXAMPLES.values():
        texts.extend(examples)
    return texts


def fixed_key() -> str:
    """What the shipped vectors must have been made from: the model and the texts."""
    digest = hashlib.sha256(MODEL_ID.encode())
    for text in fixed_texts():
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def load_fixed_vectors(path: Path = FIXED_VECTORS) -> Vectors | None:
    """The shipped vectors, or None when the file is missing or made from other texts."""
    try:
        with np.load(path) as data:
            if str(data["key"]) != fixed_key():
                return None
            vectors: Vectors = data["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError):
        return None
    return vectors if vectors.shape[0] == len(fixed_texts()) else None


def seed_fixed_vectors(embedder: TextEmbedder) -> bool:
    """Put the shipped vectors in the embedder's cache; False when they are stale (the
    texts are then embedded by whoever asks for them first)."""
    vectors = load_fixed_vectors()
    if vectors is None:
        log.warning("fixed_vectors.npz is stale or missing: embedding the fixed texts")
        return False
    embedder.seed(fixed_texts(), vectors, query=True)
    return True


def write_fixed_vectors(embedder: TextEmbedder, path: Path = FIXED_VECTORS) -> None:
    vectors = embedder.embed(fixed_texts(), query=True)
    np.savez_compressed(path, key=np.array(fixed_key()), vectors=vectors)


if __name__ == "__main__":
    from frontdesk.agent.providers.embedder import load_embedder

    write_fixed_vectors(load_embedder())
    print(f"wrote {FIXED_VECTORS} ({len(fixed_texts())} vectors)")
