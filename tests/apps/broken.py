"""An app module that raises while being imported.

Runs in: worker interpreters (where it fails to load, on purpose).
"""

from __future__ import annotations

raise RuntimeError("broken.py refuses to import: configuration missing")
