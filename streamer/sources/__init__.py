"""Input sources: each yields raw byte chunks; `lines.py` frames them into bounded lines."""
