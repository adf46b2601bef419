"""The delivery layer (its face is written in a later commit)."""
