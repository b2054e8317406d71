"""Content digests that our Rasa components put into their default config.

Rasa's training cache keys a component's output by its class name, config and inputs, not by its
source code, so an edited normaliser or category model would otherwise be restored stale from
.rasa/cache. Each component adds `source_digest` (a hash of its code and data files) to its
default config; any edit changes the key and retrains exactly that component and what follows.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=32)
def source_digest(*relative_paths: str) -> str:
    """Hex digest (16 chars) over the named repository files; a missing file counts as empty."""
    digest = hashlib.sha256()
    for relative in relative_paths:
        path = REPO_ROOT / relative
        digest.update(relative.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]
