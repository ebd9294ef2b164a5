"""MkDocs hook placeholder."""
