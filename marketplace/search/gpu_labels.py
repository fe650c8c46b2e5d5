"""The search package's only door to GPU-name normalisation (`marketplace.gpu_names`)."""

from __future__ import annotations

import difflib

from marketplace import gpu_names


def canonical_gpu_name(label: str) -> str | None:
    """The canonical name for a label a user typed ("h100-sxm" -> "H100"), None if unknown."""
    return gpu_names.normalize_label(label)


def is_known_gpu_label(label: str) -> bool:
    """True only when the canonical list recognises `label`."""
    return gpu_names.normalize_label(label) is not None


def suggest_gpu_name(label: str) -> str | None:
    """The canonical name closest in spelling to `label`, for "did you mean" hints."""
    spellings = {}
    for spec in gpu_names.load_catalog():
        for spelling in (spec.name, *spec.aliases):
            spellings.setdefault(spelling.lower(), spec.name)
    guesses = difflib.get_close_matches(label.lower(), list(spellings), n=1, cutoff=0.6)
    return spellings[guesses[0]] if guesses else None
