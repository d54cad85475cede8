"""A markdown document as one self-contained HTML page: Python-Markdown with its tables extension renders it, and
every image it links (a path relative to the document's folder) is embedded as a base64 data URI, so the page
shows the same text, tables and images as the markdown beside its files, and needs no file of its own.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import os

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;font-size:13px;"
         "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#eee}"
         "li strong{color:#a00}img{max-width:100%}td img{max-width:420px}")


class _Embed(Treeprocessor):
    """Each <img> read from `folder` into its src."""

    def __init__(self, md: markdown.Markdown, folder: str):
        super().__init__(md)
        self.folder = folder

    def run(self, root) -> None:
        for image in root.iter("img"):
            path = os.path.join(self.folder, image.get("src"))
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            with open(path, "rb") as f:
                image.set("src", f"data:{kind};base64," + base64.b64encode(f.read()).decode("ascii"))


class _EmbedImages(Extension):
    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_Embed(md, self.folder), "embed_images", 5)  # after 'inline' (20) made the <img>s


def html_page(document: str, folder: str, title: str) -> str:
    """`document` (markdown whose image links are relative to `folder`) as a whole HTML page."""
    body = markdown.markdown(document, extensions=["tables", _EmbedImages(folder)], output_format="html")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
