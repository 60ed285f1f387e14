"""Unit tests of `frontdesk.media` (a package so its helpers import relatively)."""
