"""The search package's only door to GPU-name normalisation (`marketplace.gpu_names`)."""

from __future__ import annotations

import difflib


def canonical_gpu_name(label: str) -> str | None:
    """The canonical name for a label a user typed ("h100-sxm" -> "H100"), None if unknown."""
    gpu_names = _gpu_names()
    if gpu_names is None:
        # Until the canonical list is importable, pass the label through (whitespace tidied);
        # the resolver then compares it to catalog names case-insensitively.
        return " ".join(label.split()) or None
    return gpu_names.normalize_label(label)


def is_known_gpu_label(label: str) -> bool:
    """True only when the canonical list recognises `label` (never in the fallback)."""
    gpu_names = _gpu_names()
    return gpu_names is not None and gpu_names.normalize_label(label) is not None


def suggest_gpu_name(label: str) -> str | None:
    """The canonical name closest in spelling to `label`, for "did you mean" hints."""
    gpu_names = _gpu_names()
    if gpu_names is None:
        return None
    spellings = {}
    for spec in gpu_names.load_catalog():
        for spelling in (spec.name, *spec.aliases):
            spellings.setdefault(spelling.lower(), spec.name)
    guesses = difflib.get_close_matches(label.lower(), list(spellings), n=1, cutoff=0.6)
    return spellings[guesses[0]] if guesses else None


def _gpu_names():
    # Imported late: gpu_names belongs to another part of the tree, and this package must
    # stay importable (and testable) without it.
    try:
        from marketplace import gpu_names
    except ImportError:
        return None
    return gpu_names
