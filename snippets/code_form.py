"""A module's code as code: what a fingerprint of "the code that made these numbers" hashes.

The studies' results keys (``snippets.studies.results.code_fingerprint``) and the demo
cache (``snippets.demo_cache``) both hash modules this way, so that a comment, a
docstring or a change of layout reruns nothing, while a changed constant or statement
does. It imports nothing from the package: a fingerprint that follows imports sees
only this file.
"""

from __future__ import annotations

import ast


def code_form(source: str) -> str:
    """A module's code as its syntax tree, without comments, docstrings or layout.

    Two sources with the same code form run the same way, so an edit of a comment, a
    docstring or the formatting keeps a fingerprint made from it.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:]  # the docstring: text for readers, not code
    # Without line and column numbers: moving code about does not change it.
    return ast.dump(tree, annotate_fields=True, include_attributes=False)
